"""One slice's pixels for the training cache and the views: DICOM through the modality LUT and the windows
(readers.read_image), NIfTI from its volume in Hounsfield units (or the scanner's values) through the same windows.
Which slices a study has, and in what order, is studies.py's (headers only)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from .readers import ImageData, WindowsArg, read_image
from .studies import SliceRef, is_volume_file
from .windowing import FILE_WINDOW, apply_window, resolve_window


@lru_cache(maxsize=2)  # a decoding process reads a volume's slices one after another: load it once
def _nifti_array(path: str, mtime_ns: int) -> np.ndarray:
    import nibabel as nib

    img = nib.as_closest_canonical(nib.load(path))
    data = np.asarray(img.dataobj, dtype=np.float32)
    return data[..., 0] if data.ndim == 4 else data


def nifti_slice(path: Path, k: int) -> np.ndarray:
    """Slice k of a NIfTI volume in its stored values (scaled), as displayed: (rows, columns)."""
    data = _nifti_array(str(path), path.stat().st_mtime_ns)
    return np.ascontiguousarray(data[::-1, ::-1, k].T)


def slice_pixels(ref: SliceRef, windows: WindowsArg = None) -> ImageData:
    """One slice as readers.read_image gives an image: float32 (H, W, C) in [0, 1]."""
    if not is_volume_file(ref.path):
        return read_image(ref.path, windows=windows, frame=ref.frame)
    values = nifti_slice(ref.path, ref.frame)
    chosen = [w for w in (windows or []) if w != FILE_WINDOW]
    if chosen:
        planes = [apply_window(values, resolve_window(w)) for w in chosen]
    else:  # no window: the volume's own range, the same for every slice
        lo, hi = _volume_range(str(ref.path), ref.path.stat().st_mtime_ns)
        planes = [np.clip((values - lo) / max(hi - lo, 1e-6), 0, 1)]
    return ImageData(np.stack(planes, axis=-1).astype(np.float32), {"format": "nifti", "frames": 1, "windows": [str(w) for w in chosen]})


@lru_cache(maxsize=8)
def _volume_range(path: str, mtime_ns: int) -> tuple[float, float]:
    data = _nifti_array(path, mtime_ns)
    lo, hi = np.percentile(data, [0.5, 99.5])
    return float(lo), float(hi)
