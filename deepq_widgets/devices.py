"""The GPUs this process may use, read without importing torch (the dashboard kernel asks on every redraw)."""

from __future__ import annotations

import os
from pathlib import Path


def gpu_devices() -> list[str]:
    """CUDA_VISIBLE_DEVICES when set, else the NVIDIA device nodes."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    return sorted(p.name.removeprefix("nvidia") for p in Path("/dev").glob("nvidia[0-9]*"))


def has_gpu() -> bool:
    return bool(gpu_devices())
