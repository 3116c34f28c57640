"""The training cache: every case decoded once, windowed and resized, kept as uint8 arrays.

Epochs after the first never decode DICOM again: the arrays are memory-mapped from
`<workspace>/cache/<key>/`. The key covers the dataset fingerprint, the image size and
the windows, so a change to any of them builds a new cache. Decoding problems found here
join the dataset's problem report and the case is left out, never silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cases import Box, Case
from .catalog import DatasetInfo
from .masks import MaskError, case_mask
from .preprocess import network_pixels
from .readers import ReaderError, read_image

CACHE_VERSION = 2


def dataset_fingerprint(info: DatasetInfo) -> str:
    """A hash of what the cases are: paths, sizes, modification times and annotations."""
    h = hashlib.sha256()
    for case in info.usable:
        st = case.image.stat()
        h.update(f"{case.image}|{st.st_size}|{st.st_mtime_ns}|{case.labels}|{case.boxes}|{case.polygons}|{case.mask}\n".encode())
    h.update(json.dumps(info.classes).encode())
    return h.hexdigest()[:16]


@dataclass
class CachedData:
    """Decoded cases ready for training: uint8 images (N, S, S, C) plus targets."""

    images: np.ndarray
    cases: list[Case]
    classes: list[str]
    labels: np.ndarray  # (N, K) multi-hot
    masks: np.ndarray | None = None  # (N, S, S) class indices
    boxes: list[list[Box]] = field(default_factory=list)  # in cache pixels
    problems: list[str] = field(default_factory=list)
    fingerprint: str = ""

    @property
    def channels(self) -> int:
        return int(self.images.shape[-1])


def build_cache(
    info: DatasetInfo,
    root: Path,
    size: int,
    windows: Sequence[str] = (),
    channels: int | None = None,
    masks: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> CachedData:
    """Decode the usable cases of `info` into `root/<key>/` once (with class masks when `masks`);
    later calls just load it."""
    fingerprint = dataset_fingerprint(info)
    key = hashlib.sha256(json.dumps([CACHE_VERSION, fingerprint, size, list(windows), channels, masks]).encode()).hexdigest()[:16]
    folder = root / f"{info.name}-{key}"
    if not (folder / "meta.json").is_file():
        _write(info, folder, size, list(windows), channels, masks, progress)
    return _load(info, folder, fingerprint)


def network_channels(info: DatasetInfo, windows: Sequence[str]) -> int:
    """Three channels for colour images or stacked windows, else one (grey-scale)."""
    return 3 if info.channels == 3 or len(windows) > 1 else 1


def _write(info: DatasetInfo, folder: Path, size: int, windows: list[str], channels: int | None, with_masks: bool, progress) -> None:
    from PIL import Image

    cases = info.usable
    want = channels or network_channels(info, windows)
    images = np.zeros((len(cases), size, size, want), np.uint8)
    masks = np.zeros((len(cases), size, size), np.uint8) if with_masks else None
    kept, problems, boxes = [], [], []
    for i, case in enumerate(cases):
        try:
            data = read_image(case.image, windows=windows or None)
            h, w = data.pixels.shape[:2]
            mask = case_mask(case, info.classes, w, h) if masks is not None else None
        except (ReaderError, MaskError, OSError) as exc:  # changed since it was catalogued: this case's problem only
            problems.append(str(exc) if isinstance(exc, ReaderError) else f"{case.mask or case.image}: {exc}")
            continue
        images[len(kept)] = network_pixels(data.pixels, want, size)
        if mask is not None:
            masks[len(kept)] = np.asarray(Image.fromarray(mask).resize((size, size), Image.NEAREST))
        sx, sy = size / w, size / h
        boxes.append([[info.classes.index(b.label), b.x * sx, b.y * sy, b.w * sx, b.h * sy] for b in case.boxes if b.label in info.classes])
        kept.append(i)
        if progress:
            progress(i + 1, len(cases))
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "images.npy", images[: len(kept)])
    if masks is not None:
        np.save(tmp / "masks.npy", masks[: len(kept)])
    meta = {"kept": kept, "boxes": boxes, "problems": problems, "size": size, "windows": windows, "channels": want}
    (tmp / "meta.json").write_text(json.dumps(meta))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)  # readers see a complete cache or none


def _load(info: DatasetInfo, folder: Path, fingerprint: str) -> CachedData:
    meta = json.loads((folder / "meta.json").read_text())
    usable = info.usable  # a property that filters every case: once, not once per case
    cases = [usable[i] for i in meta["kept"]]
    labels = np.zeros((len(cases), len(info.classes)), np.float32)
    for i, case in enumerate(cases):
        for label in case.labels:
            if label in info.classes:
                labels[i, info.classes.index(label)] = 1.0
    masks_path = folder / "masks.npy"
    return CachedData(
        images=np.load(folder / "images.npy", mmap_mode="r"),
        cases=cases,
        classes=list(info.classes),
        labels=labels,
        masks=np.load(masks_path, mmap_mode="r") if masks_path.is_file() else None,
        boxes=[[Box(info.classes[int(c)], x, y, w, h) for c, x, y, w, h in per] for per in meta["boxes"]],
        problems=meta["problems"],
        fingerprint=fingerprint,
    )
