"""Synthetic contrast chest CT (CT pulmonary angiography) with and without a PE-like defect.

With IV contrast the pulmonary arteries are bright (~300 HU). An embolus is a darker
filling defect (~40 HU) inside an artery: in the main, right or left pulmonary artery, or
in lobar branches within the lungs. Several slices per study; each slice is labelled PE
when a defect is visible on it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .dicom_writer import Series, write_slice
from .draw import Canvas, noise, smooth

CLASSES = ["PE", "normal"]
SIZE = 160


def generate(folder: Path, rng: np.random.Generator, studies: int = 40, slices: int = 4) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    canvas = Canvas(SIZE)
    rows = []
    for s in range(studies):
        series = Series(f"PE-{s:04d}", "CT", "CHEST", "CTA CHEST PE PROTOCOL", [(100, 700), (-600, 1500)], ["PE", "LUNG"])
        has_pe = rng.random() < 0.5
        for k in range(slices):
            shown = has_pe and rng.random() < 0.85
            hu = _chest(canvas, rng, k, shown)
            name = f"{series.patient_id}/slice_{k:02d}.dcm"
            (folder / series.patient_id).mkdir(exist_ok=True)
            write_slice(folder / name, hu, series, instance=k + 1)
            rows.append((name, "PE" if shown else "normal"))
    with open(folder / "label.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "class"), *rows])


def _chest(c: Canvas, rng: np.random.Generator, k: int, pe: bool) -> np.ndarray:
    cx, cy = SIZE / 2 + rng.normal(0, 2), SIZE / 2 + rng.normal(0, 2)
    hu = np.full((SIZE, SIZE), -1000.0, np.float32)
    hu[c.ellipse(cx, cy, 74, 54)] = -90  # subcutaneous fat
    hu[c.ellipse(cx, cy, 70, 50)] = 40  # chest wall muscle
    lungs = c.ellipse(cx - 34, cy - 2, 28, 38, 0.1) | c.ellipse(cx + 34, cy - 2, 28, 38, -0.1)
    hu[lungs] = -850 + noise(rng, SIZE, 30, blur=1.5)[lungs]
    hu[c.ellipse(cx, cy + 40, 11, 10)] = 700  # vertebra
    hu[c.ellipse(cx + 2, cy + 12, 22, 18)] = 45  # heart wall
    hu[c.ellipse(cx + 2, cy + 12, 17, 13)] = 280  # opacified chambers
    hu[c.ellipse(cx - 10, cy - 14, 7, 7)] = 290  # ascending aorta
    hu[c.ellipse(cx + 12, cy + 30, 6, 6)] = 290  # descending aorta
    # Pulmonary trunk branching into right and left pulmonary arteries.
    arteries = [
        c.ellipse(cx + 8, cy - 14, 9, 8),
        c.line(cx + 8, cy - 14, cx - 30, cy - 6 + k, 8),
        c.line(cx + 8, cy - 14, cx + 32, cy - 8 - k, 8),
    ]
    lobar = []
    for _ in range(6):
        lx, ly = cx + rng.choice([-1, 1]) * rng.uniform(22, 44), cy + rng.uniform(-22, 22)
        lobar.append(c.ellipse(lx, ly, 3.5, 3.5) & lungs)
    for vessel in arteries + lobar:
        hu[vessel] = 300 + rng.normal(0, 10)
    if pe:
        site = rng.integers(4)
        if site < 3:  # a central clot: an oval defect inside a large artery
            x, y = [(cx + 8, cy - 14), (cx - 16, cy - 9), (cx + 22, cy - 11)][site]
            hu[
                c.ellipse(x + rng.normal(0, 1), y + rng.normal(0, 1), rng.uniform(4, 6), rng.uniform(3, 4.5), rng.uniform(0, 3))
                & arteries[0 if site == 0 else site]
            ] = 40
        for vessel in lobar[: rng.integers(1, 4)]:  # peripheral clots fill lobar branches
            hu[vessel] = 45
    hu = smooth(hu, 0.6) + noise(rng, SIZE, 12)
    return hu
