"""Segmentation targets as class-index arrays: from mask images, COCO polygons or a volume's mask (SEG,
RTSTRUCT, NIfTI label map: volume_masks.py).

Index 0 is background; index i is `classes[i - 1]`. A binary mask saved as 0/255 counts
as the single foreground class, which is how most tools export them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .cases import Case, Polygon
from .volume_masks import slice_mask


class MaskError(ValueError):
    """A mask whose values are not class indices; the message says which value."""


def load_mask(path: Path, n_classes: int) -> np.ndarray:
    """A mask image as uint8 class indices (H, W). With several classes every value must be one of
    them (a 16-bit value of 256 would otherwise wrap round to background)."""
    from PIL import Image

    with Image.open(path) as img:
        arr = np.asarray(img.convert("L") if img.mode not in ("L", "P", "I", "I;16") else img)
    arr = arr.astype(np.int64)
    if n_classes == 1 and arr.max(initial=0) > 1:
        arr = (arr > 0).astype(np.int64)
    if arr.min(initial=0) < 0 or arr.max(initial=0) > n_classes:
        raise MaskError(f"mask value {int(arr.max())} has no class (classes: {n_classes})")
    return arr.astype(np.uint8)


def rasterize(polygons: Sequence[Polygon], classes: Sequence[str], width: int, height: int) -> np.ndarray:
    """Fill COCO polygons into a class-index mask; later polygons paint over earlier ones."""
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    index = {name: i + 1 for i, name in enumerate(classes)}
    for poly in polygons:
        if len(poly.points) >= 6 and poly.label in index:
            draw.polygon(list(poly.points), fill=index[poly.label])
    return np.asarray(canvas, dtype=np.uint8)


def case_mask(case: Case, classes: Sequence[str], width: int, height: int) -> np.ndarray | None:
    """The class-index mask of a segmentation case, whichever way it was annotated."""
    if case.slice is not None and case.mask is not None:
        return slice_mask(case.slice.volume, case.slice.index, case.mask, classes)
    if case.mask is not None:
        return load_mask(case.mask, len(classes))
    if case.polygons:
        return rasterize(case.polygons, classes, width, height)
    return None
