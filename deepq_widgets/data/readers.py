"""Readers with one contract: `read_image(path)` gives float32 pixels in [0, 1] plus metadata.

Pixels are (height, width, channels). One channel for monochrome images, three for colour
or for CT stacked through several windows. DICOM goes through the modality LUT (rescale),
then VOI windowing (the file's own, or named presets), then MONOCHROME1 inversion.
Compressed transfer syntaxes decode through pylibjpeg, which pydicom loads on demand.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .limits import max_pixels, size_problem
from .windowing import FILE_WINDOW, Window, apply_window, min_max, resolve_window

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
DICOM_SUFFIXES = {".dcm", ".dicom", ".dic", ""}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".dcm", ".dicom", ".dic"}

# Metadata keys that identify a person; previews and reports leave them out unless asked.
IDENTIFYING_KEYS = ("patient_id", "patient_name", "patient_birth_date", "accession_number", "institution")


class ReaderError(ValueError):
    """An image that cannot be read; the message always names the file."""


@dataclass
class ImageData:
    pixels: np.ndarray  # float32 (H, W, C) in [0, 1]
    meta: dict[str, Any] = field(default_factory=dict)

    def public_meta(self) -> dict[str, Any]:
        """Metadata without patient identifiers."""
        return {k: v for k, v in self.meta.items() if k not in IDENTIFYING_KEYS}


WindowsArg = Sequence[str | tuple[float, float] | Window] | None


def sniff_format(path: str | os.PathLike) -> str | None:
    """'png', 'jpg' or 'dicom' from the file's signature bytes, else None."""
    with open(path, "rb") as fh:
        head = fh.read(132)
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith(JPEG_SIGNATURE):
        return "jpg"
    if head[128:132] == b"DICM":
        return "dicom"
    # Old DICOM files without the preamble start straight with a group 0008 tag.
    if head[:2] == b"\x08\x00" and Path(path).suffix.lower() in DICOM_SUFFIXES:
        return "dicom"
    return None


def read_image(path: str | os.PathLike, windows: WindowsArg = None, frame: int = 0) -> ImageData:
    """Read PNG, JPG or DICOM into float32 (H, W, C) pixels in [0, 1] plus metadata.

    `windows` applies to monochrome DICOM: None uses the file's own VOI (or its full range),
    a list of names ('brain', 'subdural', 'bone', 'lung', 'mediastinum', 'pe', 'file') or
    (center, width) pairs stacks one channel per window.
    """
    frames = _read(path, windows, frame=frame)
    return ImageData(frames.pixels[0], frames.meta)


def read_frames(path: str | os.PathLike, windows: WindowsArg = None) -> ImageData:
    """Like read_image, but returns every frame: pixels are (F, H, W, C)."""
    return _read(path, windows, frame=None)


def _read(path: str | os.PathLike, windows: WindowsArg, frame: int | None) -> ImageData:
    path = Path(path)
    if not path.is_file():
        raise ReaderError(f"{path}: file not found")
    kind = sniff_format(path)
    if kind == "dicom":
        return _read_dicom(path, windows, frame)
    if kind in ("png", "jpg"):
        return _read_pil(path, kind)
    raise ReaderError(f"{path}: not a PNG, JPG or DICOM image (unrecognised signature)")


def _read_pil(path: Path, kind: str) -> ImageData:
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = max_pixels()  # PIL's own bomb check agrees with ours
    try:
        with warnings.catch_warnings():  # a large image is refused below by name; PIL's warning would only repeat it
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            too_big = size_problem(*img.size)
            if too_big:
                raise ReaderError(f"{path}: {too_big}")
            img.load()
            mode = img.mode
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(img, dtype=np.float32)
                scale = 65535.0 if arr.max() > 255 or mode.startswith("I;16") else 255.0
                pixels = (arr / scale)[..., None]
            elif mode in ("L", "1"):
                pixels = (np.asarray(img.convert("L"), dtype=np.float32) / 255.0)[..., None]
            else:
                pixels = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    except ReaderError:
        raise
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise ReaderError(f"{path}: unreadable {kind.upper()} ({exc})") from None
    height, width = pixels.shape[:2]
    meta = {"format": kind, "rows": height, "columns": width, "frames": 1, "channels": pixels.shape[2]}
    return ImageData(pixels[None], meta)


def _read_dicom(path: Path, windows: WindowsArg, frame: int | None) -> ImageData:
    import pydicom
    from pydicom.pixels import apply_modality_lut

    try:
        ds = pydicom.dcmread(path)
        meta = dicom_meta(ds)
        too_big = size_problem(meta["columns"], meta["rows"], meta["frames"])
        if too_big:
            raise ReaderError(f"{path}: {too_big}")
        nframes = meta["frames"]
        if frame is not None and not 0 <= frame < nframes:
            raise ReaderError(f"{path}: frame {frame} out of range (the file has {nframes})")
        arr = _decoded(ds, nframes, frame)
    except ReaderError:
        raise
    except Exception as exc:  # pydicom raises many types for damaged or unsupported files
        raise ReaderError(f"{path}: unreadable DICOM ({type(exc).__name__}: {exc})") from None

    if int(ds.get("SamplesPerPixel", 1)) > 1:
        bits = int(ds.get("BitsStored", 8))
        meta["windows"] = []
        return ImageData(arr.astype(np.float32) / float(2**bits - 1), meta)

    values = apply_modality_lut(arr, ds)
    chosen = list(windows) if windows else [FILE_WINDOW]
    # A frame picked from a series without a window of its own is stretched over the whole series' range, so every
    # frame of it looks alike: that range is found frame by frame, never by windowing the whole series at once.
    series = _series_range(ds, nframes) if frame is not None and nframes > 1 and FILE_WINDOW in chosen else None
    pixels = np.stack([_apply_one_window(values, ds, w, path, series) for w in chosen], axis=-1).astype(np.float32)
    if meta["photometric"] == "MONOCHROME1":
        pixels = 1.0 - pixels
    meta["windows"] = [_describe_window(w, ds) for w in chosen]
    meta["voi_lut"] = bool(ds.get("VOILUTSequence"))
    return ImageData(pixels, meta)


def _decoded(ds: Any, nframes: int, frame: int | None) -> np.ndarray:
    """The stored values of frame `frame` (every frame when None) as (F, H, W[, C]): only that frame is decoded,
    so one slice of a 2,000-frame series costs one frame's memory."""
    from pydicom.pixels import pixel_array

    if nframes > 1 and frame is not None:
        return pixel_array(ds, index=frame)[None]
    arr = ds.pixel_array
    return arr[None] if nframes == 1 else arr


def _series_range(ds: Any, nframes: int) -> tuple[float, float] | None:
    """The modality values' range over every frame, one frame decoded at a time; None where a file window or
    VOI LUT applies (then no range is needed)."""
    if file_window(ds) is not None or ds.get("VOILUTSequence"):
        return None
    from pydicom.pixels import apply_modality_lut, iter_pixels

    lo, hi = np.inf, -np.inf
    for one in iter_pixels(ds):
        values = apply_modality_lut(one, ds)
        lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
    return lo, hi


def _apply_one_window(values: np.ndarray, ds: Any, spec: Any, path: Path, series: tuple[float, float] | None = None) -> np.ndarray:
    if spec == FILE_WINDOW:
        return file_voi(values, ds, series)
    try:
        return apply_window(values, resolve_window(spec))
    except ValueError as exc:
        raise ReaderError(f"{path}: {exc}") from None


def _describe_window(spec: Any, ds: Any) -> str:
    if spec != FILE_WINDOW:
        return str(resolve_window(spec))
    if ds.get("VOILUTSequence"):
        return "file VOI LUT"
    window = file_window(ds)
    return str(window) if window else "full range"


def file_voi(values: np.ndarray, ds: Any, series: tuple[float, float] | None = None) -> np.ndarray:
    """The file's own VOI (LUT sequence or window centre/width) in [0, 1]; if none, its full range (`series`:
    the whole series' range, for one frame of it)."""
    from pydicom.pixels import apply_voi

    if ds.get("VOILUTSequence") and ds.VOILUTSequence[0].get("LUTData") is not None:
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        return apply_voi(values, ds).astype(np.float32) / float(2**bits - 1)
    window = file_window(ds)
    if window is not None:
        return apply_window(values, window)
    return min_max(values, series)


def file_window(ds: Any) -> Window | None:
    """The first window centre/width stored in the header, if any."""
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is None or width is None:
        return None
    first = lambda v: float(v[0]) if isinstance(v, Sequence) and not isinstance(v, str) else float(v)  # noqa: E731
    try:
        window = Window(first(center), first(width), "file")
    except (TypeError, ValueError, IndexError):
        return None
    return window if window.width >= 1 else None


def dicom_meta(ds: Any) -> dict[str, Any]:
    """Standard metadata from a DICOM header (works on a header read without pixels)."""
    get = lambda key, default=None: _plain(ds.get(key, default))  # noqa: E731
    window = file_window(ds)
    return {
        "format": "dicom",
        "modality": get("Modality", ""),
        "photometric": get("PhotometricInterpretation", "MONOCHROME2"),
        "rows": int(get("Rows", 0) or 0),
        "columns": int(get("Columns", 0) or 0),
        "frames": int(get("NumberOfFrames", 1) or 1),
        "channels": int(get("SamplesPerPixel", 1) or 1),
        "transfer_syntax": str(ds.file_meta.TransferSyntaxUID) if "TransferSyntaxUID" in getattr(ds, "file_meta", {}) else "",
        "study_uid": get("StudyInstanceUID"),
        "series_uid": get("SeriesInstanceUID"),
        "body_part": get("BodyPartExamined", ""),
        "file_window": str(window) if window else None,
        "pixel_spacing": [float(v) for v in ds.get("PixelSpacing", [])] or None,
        "patient_id": get("PatientID"),
        "patient_name": get("PatientName"),
        "patient_birth_date": get("PatientBirthDate"),
        "accession_number": get("AccessionNumber"),
        "institution": get("InstitutionName"),
    }


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, int | float):
        return value
    text = str(value)
    return text or None
