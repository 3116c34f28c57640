"""Synthetic chest radiographs with and without a pneumothorax-like lucency.

A pneumothorax shows as a dark rim at the apex or side of one lung with no lung markings
in it, bounded by a thin bright visceral pleural line. About a third of the files are
stored as MONOCHROME1, as many CR systems write them, so inversion is exercised.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .dicom_writer import Series, write_slice
from .draw import Canvas, branches, noise, smooth

CLASSES = ["PTX", "normal"]
SIZE = 160


def generate(folder: Path, rng: np.random.Generator, studies: int = 60, views: int = 2) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    canvas = Canvas(SIZE)
    rows = []
    for s in range(studies):
        series = Series(f"PTX-{s:04d}", "CR", "CHEST", "CHEST PA", [(2048, 4096)], ["DEFAULT"])
        label = "PTX" if rng.random() < 0.5 else "normal"
        invert = rng.random() < 0.33
        side = rng.choice([-1, 1])
        for k in range(views):
            values = _chest(canvas, rng, label == "PTX", side)
            name = f"{series.patient_id}/view_{k}.dcm"
            (folder / series.patient_id).mkdir(exist_ok=True)
            write_slice(folder / name, values, series, instance=k + 1, intercept=0.0, invert=invert)
            rows.append((name, label))
    with open(folder / "label.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "class"), *rows])


def _chest(c: Canvas, rng: np.random.Generator, ptx: bool, side: int) -> np.ndarray:
    """Detector values 0-4095, bright where tissue attenuates (MONOCHROME2 convention)."""
    cx = SIZE / 2 + rng.normal(0, 3)
    img = np.full((SIZE, SIZE), 400.0, np.float32)
    body = c.ellipse(cx, SIZE * 0.58, SIZE * 0.46, SIZE * 0.55)
    img[body] = 2600
    lungs = []
    for sgn in (-1, 1):
        lung = c.ellipse(cx + sgn * 30, SIZE * 0.52, 24 + rng.normal(0, 1.5), 52 + rng.normal(0, 2), sgn * 0.08)
        lungs.append(lung)
        img[lung] = 1100
    markings = branches(c, rng, lungs[0] | lungs[1], count=36, width=1.6)
    img[markings] += 550
    for rib in range(6):  # ribs: bright arcs across both lungs
        y0 = SIZE * 0.22 + rib * 15 + rng.normal(0, 1)
        img[np.abs(c.yy - (y0 + 0.004 * (c.xx - cx) ** 2)) < 2.2] += 420
    img[c.ellipse(cx + 6, SIZE * 0.66, 26, 22)] = 2900  # heart
    img[np.abs(c.xx - cx) < 9] = np.maximum(img[np.abs(c.xx - cx) < 9], 2800)  # mediastinum
    if ptx:
        lung = lungs[0 if side < 0 else 1]
        lx, ly = cx + side * (30 - rng.uniform(3, 7)), SIZE * 0.56
        rx, ry = rng.uniform(13, 18), rng.uniform(34, 42)
        img[lung & ~c.ellipse(lx, ly, rx, ry)] = 650  # pleural air: dark, no lung markings
        img[lung & c.ring(lx, ly, rx, ry, 1.4)] = 1900  # the visceral pleural line
    img = smooth(img, 1.0) + noise(rng, SIZE, 60, blur=0.8) + noise(rng, SIZE, 25)
    return np.clip(img, 0, 4095)
