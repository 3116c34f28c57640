"""Writes that a kill or a full disk cannot leave half done (no torch: the dashboard kernel uses it too)."""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write_text(text: str, path: Path) -> None:
    """Write, fsync, then rename into place: a reader sees the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
