"""Export a registered model, and run it on new images.

Formats: `safetensors` (the weights and model.json, as stored), `torchscript` (a traced
module) and `onnx` (opset 17, dynamic batch; a study model's also a dynamic slice axis: the slice
encoder and the pooling in one graph); a task kind may allow fewer (a detector's
post-processing is Python, so detection exports safetensors only). Prediction prepares each
image with the same function as the training cache (data/preprocess.py), so the network sees
the pixels it was trained on; classification adds Grad-CAM heatmaps.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import kinds
from ..contracts import ModelCard, Prediction
from ..data.preprocess import network_pixels, read_network_pixels
from ..data.slice_pixels import slice_pixels
from ..data.studies import SliceRef, Volume, study_files, volumes_at
from ..data.study_layouts import names_study
from ..files import atomic_write_text
from ..workspace import WorkspacePaths
from .kind_training import EXPORT_FORMATS, Said
from .loaders import normalise, to_unit
from .registry import load_model

EXAMPLE_SLICES = 4  # a study's export is traced on this many slices; the slice axis stays free


def export_model(workspace: WorkspacePaths, model_id: str, fmt: str, out_dir: str | Path, calibrated: bool = True) -> Path:
    """Write the model in `fmt` to `out_dir` (inside the workspace); returns the file written. The graph's logits
    are divided by the model's temperature unless `calibrated=False` (the card written beside it says which)."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    out = workspace.resolve(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model, card = load_model(workspace, model_id, calibrated)
    allowed = kinds.get(card.task).trainer.export_formats
    if fmt not in allowed:
        raise ValueError(f"{kinds.get(card.task).title.lower()} models export as {', '.join(allowed)} only")
    atomic_write_text(card.model_dump_json(by_alias=True, indent=2), out / f"{model_id}.json")
    if fmt == "safetensors":
        target = out / f"{model_id}.safetensors"
        shutil.copy(workspace.model_dir(model_id) / "model.safetensors", target)
        return target
    model.eval()
    volumes = kinds.get(card.task).volumes  # a study: (batch, slices, channels, side, side), any number of slices
    example = torch.zeros(1, *([EXAMPLE_SLICES] if volumes else []), card.channels, card.image_size, card.image_size)
    axes = {0: "batch", 1: "slices"} if volumes else {0: "batch"}
    if fmt == "torchscript":
        target = out / f"{model_id}.torchscript.pt"
        torch.jit.trace(model, example).save(str(target))
        return target
    target = out / f"{model_id}.onnx"
    torch.onnx.export(
        model,
        (example,),
        str(target),
        input_names=["study" if volumes else "image"],
        output_names=["logits"],
        dynamic_axes={"study" if volumes else "image": axes, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    return target


def preprocess(path: str | Path, card: ModelCard) -> torch.Tensor:
    """One image as the network saw its training cases: windows, channels, size, normalisation."""
    pixels = read_network_pixels(path, card.windows, card.channels, card.image_size)
    return normalise(to_unit(torch.from_numpy(pixels)[None]), card.mean, card.std)


def slice_input(ref: SliceRef, card: ModelCard) -> torch.Tensor:
    """One slice of a study as a model of single images saw its training slices: (1, C, H, W)."""
    pixels = network_pixels(slice_pixels(ref, card.windows or None).pixels, card.channels, card.image_size)
    return normalise(to_unit(torch.from_numpy(pixels)[None]), card.mean, card.std)


def named_slices(volume: Volume) -> list[tuple[str, SliceRef]]:
    """A study's slices in patient order, each named as the views read it: its DICOM file, or 'scan.nii.gz#3'."""
    if volume.format == "DICOM series":
        return [(str(ref.path), ref) for ref in volume.slices]
    return [(f"{volume.source}#{k + 1}", ref) for k, ref in enumerate(volume.slices)]


def study_input(volume: Volume, card: ModelCard) -> torch.Tensor:
    """Every slice of a study as the network saw its training studies' slices: (1, S, C, H, W)."""
    slices = [network_pixels(slice_pixels(ref, card.windows or None).pixels, card.channels, card.image_size) for ref in volume.slices]
    return normalise(to_unit(torch.from_numpy(np.stack(slices))), card.mean, card.std)[None]


def studies_at(path: Path) -> list[Volume]:
    """The usable studies a path names (a series folder, a NIfTI volume, a multi-frame DICOM); ValueError if none."""
    if not names_study(path) and not path.is_file():
        raise ValueError(f"{path}: not a study (a folder of DICOM slices, a NIfTI volume or a multi-frame DICOM)")
    volumes, _ = volumes_at(path, study_files(path) if path.is_dir() else [])
    usable = [v for v in volumes if v.problem is None]
    if not usable:
        why = volumes[0].problem if volumes else "no DICOM slices or NIfTI volume in it"
        raise ValueError(f"{path}: {why}")
    return usable


def predict(
    workspace: WorkspacePaths, model_id: str, paths: list[str | Path], heatmaps: bool = False, calibrated: bool = True
) -> list[Said]:
    """What the model says per image (per study, for a kind that reads studies: each series of a folder), as its
    kind says it (scores and the call at the operating point, boxes, areas and a mask, a measured value, a
    study's per-slice scores), with heatmaps when asked. Every answer is kept: for a few images; a dataset
    goes through `predict_to_files`, which keeps none of the arrays."""
    return list(predictions(workspace, model_id, paths, heatmaps, calibrated))


def predictions(
    workspace: WorkspacePaths, model_id: str, paths: list[str | Path], heatmaps: bool = False, calibrated: bool = True
) -> Iterator[Said]:
    """`predict`, one answer at a time, so that a run over 10⁵ images holds one image's heatmap at a time; with the
    model's temperature (`calibrated=False`: the network's own probabilities, at the same operating point)."""
    model, card = load_model(workspace, model_id, calibrated)
    model.eval()
    kind = kinds.get(card.task)
    for path in paths:
        if kind.volumes:
            inputs = [(str(path), study_input(v, card)) for v in studies_at(Path(path))]
        elif names_study(Path(path)):  # a model of single images given a study: each of its slices
            inputs = [(name, slice_input(ref, card)) for v in studies_at(Path(path)) for name, ref in named_slices(v)]
        else:
            inputs = [(str(path), preprocess(path, card))]
        for name, x in inputs:
            said = kind.trainer.predict(model, x, card.classes, heatmaps, card.thresholds)
            said.prediction.image = name
            yield said


def predict_to_files(
    workspace: WorkspacePaths,
    model_id: str,
    images: list[str | Path],
    dataset: str | None = None,
    overlays: str | None = None,
    calibrated: bool = True,
) -> list[Prediction]:
    """`predict` on `images` (paths inside the workspace) and every readable case of `dataset` (labelled or not), its heatmaps and
    masks written as PNG files in the workspace folder `overlays` (each row names its own: `heatmap_file`,
    `mask_file`) as each image is done, and never kept. A run on a whole dataset is kept in the model's
    inference list. The one function behind `deepq predict` and `Model.predict`."""
    import time

    from ..contracts import InferenceRun
    from ..data.catalog import scan_dataset
    from ..evaluations import record_inference

    paths = [workspace.resolve(p) for p in images]
    if dataset is not None:
        paths += [c.shown for c in scan_dataset(workspace, dataset).predictable]  # a slice of a NIfTI volume: 'scan.nii.gz#3'
    if not paths:
        raise ValueError("nothing to predict: give images, a dataset, or both")
    folder = workspace.resolve(overlays) if overlays is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, said in enumerate(predictions(workspace, model_id, paths, folder is not None, calibrated)):
        if folder is not None:
            stem = f"{i:05d}-{Path(said.prediction.image).stem}"  # numbered: two class folders may hold images of the same name
            if said.heatmap is not None:  # a study's: that of its most telling slice
                heatmap = said.heatmap[said.prediction.key_slices[0]] if said.heatmap.ndim == 3 else said.heatmap
                said.prediction.heatmap_file = _png(workspace, (heatmap * 255).astype("uint8"), folder / f"{stem}.heatmap.png")
            if said.mask is not None:
                said.prediction.mask_file = _png(workspace, said.mask.astype("uint8"), folder / f"{stem}.mask.png")
        rows.append(said.prediction)  # the row alone: its arrays go with `said`
    if dataset is not None and not images:
        record_inference(workspace, InferenceRun(model_id=model_id, dataset=dataset, created=time.time(), rows=rows))
    return rows


def _png(workspace: WorkspacePaths, pixels: Any, target: Path) -> str:
    """`pixels` saved as a PNG at `target`; its path in the workspace, as a prediction names it."""
    from PIL import Image

    Image.fromarray(pixels).save(target)
    return str(target.relative_to(workspace.root))
