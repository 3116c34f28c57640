"""Synthetic non-contrast head CT with five hemorrhage-like findings.

Values are Hounsfield units: skull ~1000, brain ~35, CSF ~5, fresh blood 60-85. Each
finding has the shape a radiologist would look for: a crescent along the skull (subdural),
a lens (epidural), streaks in the sulci (subarachnoid), a blob in the parenchyma, and blood
filling the ventricles.

Two datasets: `generate`, a few slices per study each labelled by the types it shows
(multi-label, one case per slice), and `generate_studies`, whole series of 5 mm slices (the
intracranial hemorrhage preset's data): half the studies bleed on a few contiguous slices;
`label.csv` labels each study (hemorrhage or normal) and each of its slices, as RSNA's
hemorrhage set does.
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
            hu = _head(canvas, rng, 1.0 - 0.12 * abs(k - (slices - 1) / 2), shown)  # slices near the vertex are smaller
            name = f"{series.patient_id}/slice_{k:02d}.dcm"
            (folder / series.patient_id).mkdir(exist_ok=True)
            write_slice(folder / name, hu, series, instance=k + 1)
            rows += [(name, c, int(c in shown)) for c in CLASSES]
    with open(folder / "label.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "class", "value"), *rows])


STUDY_CLASSES = ["hemorrhage", "normal"]
SPACING_MM = 5.0


def generate_studies(folder: Path, rng: np.random.Generator, studies: int = 40, slices: int = 24) -> None:
    """`studies` series of `slices` slices from the skull base up, half bleeding (one or two types) on 3 to 6
    contiguous slices; every slice labelled."""
    folder.mkdir(parents=True, exist_ok=True)
    canvas = Canvas(SIZE)
    rows = []
    for s in range(studies):
        series = Series(f"ICH-{s:04d}", "CT", "HEAD", "CT HEAD WO CONTRAST AXIAL 5MM", [(40, 80), (600, 2800)], ["BRAIN", "BONE"])
        bleeds = s % 2 == 0
        types = list(rng.choice(CLASSES, size=int(rng.integers(1, 3)), replace=False)) if bleeds else []
        run = int(rng.integers(3, 7))
        first = int(rng.integers(slices // 4, slices - slices // 4 - run))
        label = "hemorrhage" if bleeds else "normal"
        rows.append((series.patient_id, label))
        (folder / series.patient_id).mkdir(exist_ok=True)
        for k, instance in enumerate(rng.permutation(slices)):  # scrambled file names: the headers order the slices
            shown = types if first <= k < first + run else []
            level = 0.55 + 0.45 * np.sin(np.pi * (k + 1) / (slices + 1))  # the head is widest mid-volume
            name = f"{series.patient_id}/IM{instance:04d}.dcm"
            write_slice(folder / name, _head(canvas, rng, level, shown), series, instance=int(instance) + 1, position=k * SPACING_MM)
            rows.append((name, "hemorrhage" if shown else "normal"))
    with open(folder / "label.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "class"), *rows])


def _head(c: Canvas, rng: np.random.Generator, level: float, findings: list[str]) -> np.ndarray:
    """One axial slice of a head whose size is `level` of the largest."""
    cx, cy = SIZE / 2 + rng.normal(0, 2), SIZE / 2 + rng.normal(0, 2)
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
