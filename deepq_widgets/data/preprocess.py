"""The one way an image becomes network input pixels, for training, evaluation, prediction and export.

A decoded image (floats in [0, 1], any channel count) is matched to the network's channels,
quantised to uint8 with rounding, and resized with bilinear filtering, plane by plane. The
training cache stores exactly this; prediction computes exactly this; the loaders then only
divide by 255 and normalise (training/loaders.py, `normalise`). So a model sees the same
pixels in prediction as it saw in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .readers import read_image
from .slice_pixels import slice_pixels
from .studies import named_slice


def match_channels(pixels: np.ndarray, want: int) -> np.ndarray:
    """Grey from colour by the channel mean; colour from grey by repetition."""
    have = pixels.shape[-1]
    if have == want:
        return pixels
    if want == 1:
        return pixels[..., :3].mean(axis=-1, keepdims=True)
    return np.repeat(pixels[..., :1], want, axis=-1) if have == 1 else pixels[..., :want]


def network_pixels(pixels: np.ndarray, channels: int, size: int) -> np.ndarray:
    """(H, W, C) floats in [0, 1] -> (size, size, channels) uint8, as the network is fed."""
    from PIL import Image

    arr = (np.clip(match_channels(pixels, channels), 0, 1) * 255 + 0.5).astype(np.uint8)
    planes = [np.asarray(Image.fromarray(arr[..., c]).resize((size, size), Image.BILINEAR)) for c in range(arr.shape[-1])]
    return np.stack(planes, axis=-1)


def read_network_pixels(path: str | Path, windows: Sequence[str], channels: int, size: int) -> np.ndarray:
    """Read one file (DICOM windows applied), or the slice of a volume that 'scan.nii.gz#3' names, and prepare it
    as `network_pixels` does."""
    named = named_slice(path)
    image = slice_pixels(named, list(windows) or None) if named is not None else read_image(path, windows=list(windows) or None)
    return network_pixels(image.pixels, channels, size)
