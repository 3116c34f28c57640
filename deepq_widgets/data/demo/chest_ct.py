"""Synthetic contrast chest CT (CT pulmonary angiography) series, with and without a PE-like defect.

With IV contrast the pulmonary arteries are bright (~300 HU). An embolus is a darker
filling defect (~40 HU) inside an artery: in the main, right or left pulmonary artery, or
in lobar branches within the lungs. Each study is a series of axial slices 5 mm apart, placed
by ImagePositionPatient as a scanner writes them (file names do not follow the anatomy); an
embolus shows on a few contiguous slices of a PE study, and `label.csv` labels the study
(its folder), as a radiology report does: which slices show it is for the model to find.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .dicom_writer import Series, write_slice
from .draw import Canvas, noise, smooth

CLASSES = ["PE", "normal"]
SIZE = 160


SPACING_MM = 5.0


def generate(folder: Path, rng: np.random.Generator, studies: int = 40, slices: int = 24, slice_labels: bool = False) -> None:
    """`studies` series of `slices` slices, half with an embolus on 4 to 7 contiguous slices; `slice_labels`: label
    every slice too (PE where the embolus shows), as a reader marking the slices would."""
    folder.mkdir(parents=True, exist_ok=True)
    canvas = Canvas(SIZE)
    rows = []
    for s in range(studies):
        series = Series(f"PE-{s:04d}", "CT", "CHEST", "CTA CHEST PE PROTOCOL", [(100, 700), (-600, 1500)], ["PE", "LUNG"])
        has_pe = s % 2 == 0
        run = int(rng.integers(4, 8))
        first = int(rng.integers(slices // 4, slices - slices // 4 - run))
        site = int(rng.integers(4))
        (folder / series.patient_id).mkdir(exist_ok=True)
        for k, instance in enumerate(rng.permutation(slices)):  # written in scrambled order: the header places them
            shown = has_pe and first <= k < first + run
            hu = _chest(canvas, rng, k - slices // 2, site if shown else None)
            name = f"{series.patient_id}/IM{instance:04d}.dcm"
            write_slice(folder / name, hu, series, instance=int(instance) + 1, position=k * SPACING_MM)
            if slice_labels:
                rows.append((name, "PE" if shown else "normal"))
        rows.append((series.patient_id, "PE" if has_pe else "normal"))
    with open(folder / "label.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "class"), *rows])


def _chest(c: Canvas, rng: np.random.Generator, k: int, site: int | None) -> np.ndarray:
    """One axial slice `k` slices from the hilum; `site`: where an embolus shows on it (None: none)."""
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
    if site is not None:
        if site < 3:  # a central clot: an oval defect inside a large artery
            x, y = [(cx + 8, cy - 14), (cx - 16, cy - 9), (cx + 22, cy - 11)][site]
            hu[
                c.ellipse(x + rng.normal(0, 1), y + rng.normal(0, 1), rng.uniform(5, 8), rng.uniform(4, 6), rng.uniform(0, 3))
                & arteries[0 if site == 0 else site]
            ] = 40
        for vessel in lobar[: rng.integers(2, 5)]:  # peripheral clots fill lobar branches
            hu[vessel] = 45
    hu = smooth(hu, 0.6) + noise(rng, SIZE, 12)
    return hu
