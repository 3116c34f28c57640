"""Where the bundled data folders (zoo/, presets/, notebooks/) live, in a checkout and in a wheel alike."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """`zoo`, `presets` or `notebooks`: inside the wheel under _bundled/, else at the repository root."""
    for candidate in (_PACKAGE / "_bundled" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bundled data folder {name!r} not found next to {_PACKAGE}")
