"""Size caps on what is decoded: a 14,000 x 14,000 PNG or a DICOM of thousands of frames is named
as a problem of its file, never decoded (a decompression bomb must not take the worker down).

Settings: $DEEPQ_MAX_PIXELS (pixels in one frame, default 100 million: 10,000 x 10,000, above any
radiograph or mammogram) and $DEEPQ_MAX_FRAMES (frames in one file, default 2,000).
"""

from __future__ import annotations

import os

MAX_PIXELS_ENV, MAX_FRAMES_ENV = "DEEPQ_MAX_PIXELS", "DEEPQ_MAX_FRAMES"
DEFAULT_MAX_PIXELS, DEFAULT_MAX_FRAMES = 100_000_000, 2_000


def max_pixels() -> int:
    return _setting(MAX_PIXELS_ENV, DEFAULT_MAX_PIXELS)


def max_frames() -> int:
    return _setting(MAX_FRAMES_ENV, DEFAULT_MAX_FRAMES)


def size_problem(width: int, height: int, frames: int = 1) -> str | None:
    """Why an image of this size is not decoded, or None when it is within the caps."""
    if width * height > max_pixels():
        return (
            f"image is {width:,} x {height:,} = {width * height / 1e6:.0f} megapixels, above the limit of "
            f"{max_pixels() / 1e6:.0f} ({MAX_PIXELS_ENV})"
        )
    if frames > max_frames():
        return f"file holds {frames:,} frames, above the limit of {max_frames():,} ({MAX_FRAMES_ENV})"
    return None


def _setting(name: str, default: int) -> int:
    given = os.environ.get(name, "").strip()
    if not given:
        return default
    if not given.isdigit() or int(given) < 1:
        raise ValueError(f"{name} must be a whole number, 1 or more (got {given!r})")
    return int(given)
