"""Synthetic non-contrast head CT with five hemorrhage-like findings (multi-label).

Values are Hounsfield units: skull ~1000, brain ~35, CSF ~5, fresh blood 60-85. Each
finding has the shape a radiologist would look for: a crescent along the skull (subdural),
a lens (epidural), streaks in the sulci (subarachnoid), a blob in the parenchyma, and blood
filling the ventricles. Several slices per study, each labelled by what it shows.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .dicom_writer import Series, write_slice
from .draw import Canvas, noise, smooth

CLASSES = ["subarachnoid", "subdural", "epidural", "intraparenchymal", "intraventricular"]
SIZE = 160


def generate(folder: Path, rng: np.random.Generator, studies: int = 40, slices: int = 4) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    canvas = Canvas(SIZE)
    rows = []
    for s in range(studies):
        series = Series(f"ICH-{s:04d}", "CT", "HEAD", "CT HEAD WO CONTRAST", [(40, 80), (600, 2800)], ["BRAIN", "BONE"])
        study_findings = [c for c in CLASSES if rng.random() < 0.3]
        for k in range(slices):
            shown = [c for c in study_findings if rng.random() < 0.85]
            hu = _head(canvas, rng, k, slices, shown)
            name = f"{series.patient_id}/slice_{k:02d}.dcm"
            (folder / series.patient_id).mkdir(exist_ok=True)
            write_slice(folder / name, hu, series, instance=k + 1)
            rows += [(name, c, int(c in shown)) for c in CLASSES]
    with open(folder / "label.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "class", "value"), *rows])


def _head(c: Canvas, rng: np.random.Generator, k: int, n: int, findings: list[str]) -> np.ndarray:
    cx, cy = SIZE / 2 + rng.normal(0, 2), SIZE / 2 + rng.normal(0, 2)
    level = 1.0 - 0.12 * abs(k - (n - 1) / 2)  # slices near the vertex are smaller
    rx, ry = 58 * level + rng.normal(0, 2), 68 * level + rng.normal(0, 2)
    hu = np.full((SIZE, SIZE), -1000.0, np.float32)
    hu[c.ellipse(cx, cy, rx + 4, ry + 4)] = 20  # scalp
    hu[c.ellipse(cx, cy, rx, ry)] = 1000 + noise(rng, SIZE, 80)[c.ellipse(cx, cy, rx, ry)]
    brain = c.ellipse(cx, cy, rx - 6, ry - 6)
    hu[brain] = 35 + noise(rng, SIZE, 3, blur=2)[brain]
    sulci = brain & ~c.ellipse(cx, cy, rx - 12, ry - 12) & (noise(rng, SIZE, 1, blur=1.5) > 1.0)
    hu[sulci] = 8
    vent = c.ellipse(cx - 9, cy - 4, 5, 16, 0.3) | c.ellipse(cx + 9, cy - 4, 5, 16, -0.3)
    hu[vent] = 5

    blood = rng.uniform(62, 85)
    theta, _r = c.polar(cx, cy)
    side = rng.choice([-1, 1])
    if "subdural" in findings:
        arc = np.abs(np.angle(np.exp(1j * (theta - (0 if side > 0 else np.pi))))) < rng.uniform(0.9, 1.4)
        hu[arc & brain & ~c.ellipse(cx, cy, rx - 6 - rng.uniform(5, 8), ry - 6 - rng.uniform(5, 8))] = blood
    if "epidural" in findings:
        a = rng.uniform(0, 2 * np.pi)
        ex, ey = cx + (rx - 12) * np.cos(a), cy + (ry - 12) * np.sin(a)
        hu[c.ellipse(ex, ey, 7, 16, a) & brain] = blood + 8
    if "subarachnoid" in findings:
        edge = brain & ~c.ellipse(cx, cy, rx - 16, ry - 16)
        streaks = edge & (noise(rng, SIZE, 1, blur=1.2) > 0.8)
        hu[streaks] = blood - 5
    if "intraparenchymal" in findings:
        px, py = cx + rng.uniform(-25, 25), cy + rng.uniform(-20, 30)
        hu[c.ellipse(px, py, rng.uniform(6, 11), rng.uniform(6, 11), rng.uniform(0, 3)) & brain] = blood + 5
    if "intraventricular" in findings:
        hu[vent & (c.yy > cy - 4 - rng.uniform(4, 14))] = blood
    hu = smooth(hu, 0.7) + noise(rng, SIZE, 4)
    return hu
