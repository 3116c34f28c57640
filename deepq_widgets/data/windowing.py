"""DICOM VOI windows: named presets and the DICOM LINEAR windowing function.

Windowing maps modality values (Hounsfield units for CT) to display intensity in [0, 1].
The formula is PS3.3 C.11.2.1.2.1, the same one pydicom's `apply_windowing` uses, so a
named window here gives exactly what a viewer shows for that centre and width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    center: float
    width: float
    name: str = ""

    def __str__(self) -> str:
        label = f"{self.name} " if self.name else ""
        return f"{label}{self.center:g}/{self.width:g}"


# Centre/width pairs radiologists use; 'pe' is the CT pulmonary angiography window.
NAMED_WINDOWS: dict[str, Window] = {
    "brain": Window(40, 80, "brain"),
    "subdural": Window(80, 200, "subdural"),
    "stroke": Window(32, 8, "stroke"),
    "bone": Window(600, 2800, "bone"),
    "soft_tissue": Window(40, 380, "soft_tissue"),
    "lung": Window(-600, 1500, "lung"),
    "mediastinum": Window(50, 350, "mediastinum"),
    "pe": Window(100, 700, "pe"),
    "liver": Window(60, 160, "liver"),
}

FILE_WINDOW = "file"  # the window stored in the DICOM header


def resolve_window(spec: str | tuple[float, float] | Window) -> Window:
    """Accept a preset name, 'center/width' text, a (center, width) pair, or a Window."""
    if isinstance(spec, Window):
        return spec
    if isinstance(spec, tuple | list):
        return Window(float(spec[0]), float(spec[1]))
    key = spec.strip().lower()
    if key in NAMED_WINDOWS:
        return NAMED_WINDOWS[key]
    if "/" in key:
        center, width = key.split("/", 1)
        try:
            return Window(float(center), float(width))
        except ValueError:
            pass
    known = ", ".join(sorted(NAMED_WINDOWS))
    raise ValueError(f"unknown window {spec!r}: use one of {known}, 'file', or 'center/width'")


def apply_window(values: np.ndarray, window: Window) -> np.ndarray:
    """DICOM LINEAR windowing of modality values into float32 intensities in [0, 1]."""
    if window.width < 1:
        raise ValueError(f"window width must be at least 1 for LINEAR windowing, got {window.width}")
    center = window.center - 0.5
    width = window.width - 1
    if width == 0:
        return (values > center).astype(np.float32)
    out = (values.astype(np.float32) - center) / width + 0.5
    return np.clip(out, 0.0, 1.0, out=out)


def min_max(values: np.ndarray, bounds: tuple[float, float] | None = None) -> np.ndarray:
    """Fallback when a file has no window: stretch its own range (or `bounds`, a whole series') to [0, 1]."""
    values = values.astype(np.float32)
    lo, hi = bounds if bounds is not None else (float(values.min()), float(values.max()))
    if hi <= lo:
        return np.zeros_like(values)
    return (values - lo) / (hi - lo)
