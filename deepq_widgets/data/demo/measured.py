"""A regression demo: the diameter of a lung nodule, in millimetres, from a CT-like patch.

Each 128-pixel patch covers 64 mm (0.5 mm per pixel) of lung with vessels and noise, and holds one
nodule, round to lobulated, 4–30 mm across. Its `label.csv` is `path,value` (the diameter a reader
measured: the true one with 0.5 mm of reader variability) beside a `target.txt` naming the quantity
and its unit, as a user writes them.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from .draw import Canvas, branches, noise, smooth

SIZE = 128
MM_PER_PIXEL = 0.5


def nodule_diameters(folder: Path, rng: np.random.Generator, count: int = 120) -> None:
    c = Canvas(SIZE)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    lung = c.ellipse(64, 64, 70, 70)
    for i in range(count):
        img = 0.12 + smooth(noise(rng, SIZE, 0.05), 1.2)
        img[branches(c, rng, lung, 6, 1.5, steps=16)] = 0.42  # vessels: bright like the nodule, but thin
        diameter = float(rng.uniform(4.0, 30.0))
        radius = diameter / 2 / MM_PER_PIXEL
        x, y = rng.uniform(64 - 40 + radius / 2, 64 + 40 - radius / 2, 2)
        theta, r = c.polar(x, y)
        lobes = rng.uniform(0.0, 0.12) * np.sin(rng.integers(3, 7) * theta + rng.uniform(0, 6))
        img[r < radius * (1 + lobes)] = 0.55 + 0.1 * rng.random()
        name = f"images/nodule_{i:03d}.png"
        Image.fromarray(np.clip(smooth(img, 0.7) * 255, 0, 255).astype(np.uint8), "L").save(folder / name)
        rows.append((name, f"{diameter + rng.normal(0, 0.5):.1f}"))
    with open(folder / "label.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "value"), *rows])
    (folder / "target.txt").write_text("nodule diameter\nmm\n")
