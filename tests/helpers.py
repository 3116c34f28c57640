"""Small builders for test datasets: real files, written the way users write them."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image


def png(path: Path, size: tuple[int, int] = (32, 32), value: int = 128, mode: str = "L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    Image.fromarray(np.full(shape, value, np.uint8), mode).save(path)
    return path


def write_csv(path: Path, header: list[str], rows: list[tuple]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


def class_folders(root: Path, counts: dict[str, int]) -> Path:
    for label, n in counts.items():
        for i in range(n):
            png(root / label / f"{label}_{i}.png", value=40 * (i % 5))
    return root
