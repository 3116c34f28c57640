"""Export a registered model, and run it on new images.

Formats: `safetensors` (the weights and model.json, as stored), `torchscript` (a traced
module) and `onnx` (opset 17, dynamic batch); a task kind may allow fewer (a detector's
post-processing is Python, so detection exports safetensors only). Prediction prepares each
image with the same function as the training cache (data/preprocess.py), so the network sees
the pixels it was trained on; classification adds Grad-CAM heatmaps.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from .. import kinds
from ..contracts import ModelCard, Prediction
from ..data.preprocess import read_network_pixels
from ..files import atomic_write_text
from ..workspace import WorkspacePaths
from .kind_training import EXPORT_FORMATS, Said
from .loaders import normalise, to_unit
from .registry import load_model


def export_model(workspace: WorkspacePaths, model_id: str, fmt: str, out_dir: str | Path) -> Path:
    """Write the model in `fmt` to `out_dir` (inside the workspace); returns the file written."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    out = workspace.resolve(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model, card = load_model(workspace, model_id)
    allowed = kinds.get(card.task).trainer.export_formats
    if fmt not in allowed:
        raise ValueError(f"{kinds.get(card.task).title.lower()} models export as {', '.join(allowed)} only")
    atomic_write_text(card.model_dump_json(by_alias=True, indent=2), out / f"{model_id}.json")
    if fmt == "safetensors":
        target = out / f"{model_id}.safetensors"
        shutil.copy(workspace.model_dir(model_id) / "model.safetensors", target)
        return target
    model.eval()
    example = torch.zeros(1, card.channels, card.image_size, card.image_size)
    if fmt == "torchscript":
        target = out / f"{model_id}.torchscript.pt"
        torch.jit.trace(model, example).save(str(target))
        return target
    target = out / f"{model_id}.onnx"
    torch.onnx.export(
        model,
        (example,),
        str(target),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    return target


def preprocess(path: str | Path, card: ModelCard) -> torch.Tensor:
    """One image as the network saw its training cases: windows, channels, size, normalisation."""
    pixels = read_network_pixels(path, card.windows, card.channels, card.image_size)
    return normalise(to_unit(torch.from_numpy(pixels)[None]), card.mean, card.std)


def predict(workspace: WorkspacePaths, model_id: str, paths: list[str | Path], heatmaps: bool = False) -> list[Said]:
    """What the model says per image, as its kind says it (scores and the call at the operating point,
    boxes, areas and a mask, a measured value), with heatmaps when asked."""
    model, card = load_model(workspace, model_id)
    model.eval()
    trainer = kinds.get(card.task).trainer
    out = []
    for path in paths:
        said = trainer.predict(model, preprocess(path, card), card.classes, heatmaps, card.thresholds)
        said.prediction.image = str(path)
        out.append(said)
    return out


def predict_to_files(
    workspace: WorkspacePaths, model_id: str, images: list[str | Path], dataset: str | None = None, overlays: str | None = None
) -> list[Prediction]:
    """`predict` on `images` (paths inside the workspace) and every usable case of `dataset`, its heatmaps and
    masks written as PNG files in the workspace folder `overlays` (each row names its own: `heatmap_file`,
    `mask_file`) instead of returned as arrays. A run on a whole dataset is kept in the model's inference
    list. The one function behind `deepq predict` and `Model.predict`."""
    import time

    from ..contracts import InferenceRun
    from ..data.catalog import scan_dataset
    from ..evaluations import record_inference

    paths = [workspace.resolve(p) for p in images]
    if dataset is not None:
        paths += [c.image for c in scan_dataset(workspace, dataset).usable]
    if not paths:
        raise ValueError("nothing to predict: give images, a dataset, or both")
    results = predict(workspace, model_id, paths, heatmaps=overlays is not None)
    if overlays is not None:
        folder = workspace.resolve(overlays)
        folder.mkdir(parents=True, exist_ok=True)
        for i, said in enumerate(results):  # numbered: two class folders may hold images of the same name
            stem = f"{i:05d}-{Path(said.prediction.image).stem}"
            if said.heatmap is not None:
                said.prediction.heatmap_file = _png(workspace, (said.heatmap * 255).astype("uint8"), folder / f"{stem}.heatmap.png")
            if said.mask is not None:
                said.prediction.mask_file = _png(workspace, said.mask.astype("uint8"), folder / f"{stem}.mask.png")
    rows = [said.prediction for said in results]
    if dataset is not None and not images:
        record_inference(workspace, InferenceRun(model_id=model_id, dataset=dataset, created=time.time(), rows=rows))
    return rows


def _png(workspace: WorkspacePaths, pixels: Any, target: Path) -> str:
    """`pixels` saved as a PNG at `target`; its path in the workspace, as a prediction names it."""
    from PIL import Image

    Image.fromarray(pixels).save(target)
    return str(target.relative_to(workspace.root))
