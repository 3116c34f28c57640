"""Two demo datasets hard enough to teach something: a short run lands between 0.7 and 0.9, with real
false positives and false negatives, so the insight views, galleries and curves show what they are for.
(The tests that assert learning train on the easy datasets.)

- thyroid_nodules: single-label, benign or suspicious, class folders. As in TI-RADS, no feature
  decides alone: microcalcifications, an irregular margin, a taller-than-wide shape and a dark
  (hypoechoic) nodule are each more frequent in suspicious nodules and each seen in benign ones, so
  even a perfect reader of these features is wrong on about one case in six.
- liver_lesions: segmentation, images/ and masks/ with classes.txt (liver, lesion). The liver is
  easy; the lesions are small, of low contrast and with soft edges, and some are barely visible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .draw import Canvas, noise, smooth

SIZE = 128
# how often each sign is present in (benign, suspicious) nodules
SIGNS = {"microcalcifications": (0.08, 0.65), "irregular margin": (0.1, 0.65), "taller than wide": (0.1, 0.5), "hypoechoic": (0.35, 0.75)}


def _save_gray(path: Path, img: np.ndarray) -> None:
    Image.fromarray(np.clip(img * 255, 0, 255).astype(np.uint8), "L").save(path)


def thyroid_nodules(folder: Path, rng: np.random.Generator, per_class: int = 90) -> None:
    c = Canvas(SIZE)
    for index, label in enumerate(("benign", "suspicious")):
        (folder / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            signs = {name: rng.random() < chances[index] for name, chances in SIGNS.items()}
            speckle = smooth(noise(rng, SIZE, 0.16), 0.8)
            img = 0.5 + speckle + 0.08 * np.sin(c.yy / 9 + rng.uniform(0, 6))  # thyroid tissue, layered
            x, y = rng.uniform(44, 84), rng.uniform(44, 84)
            wide, tall = rng.uniform(13, 19), rng.uniform(9, 13)
            rx, ry = (tall, wide) if signs["taller than wide"] else (wide, tall)
            theta, r = c.polar(x, y)
            radius = rx * ry / np.sqrt((ry * np.cos(theta)) ** 2 + (rx * np.sin(theta)) ** 2)
            if signs["irregular margin"]:
                radius = radius * (1 + 0.22 * np.sin(rng.integers(5, 9) * theta + rng.uniform(0, 6)))
            inside = r < radius
            img[inside] = (0.22 if signs["hypoechoic"] else 0.38) + speckle[inside]
            if signs["microcalcifications"]:
                for _ in range(rng.integers(4, 9)):
                    angle, depth = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.7)
                    img[c.ellipse(x + depth * rx * np.cos(angle), y + depth * ry * np.sin(angle), 1.5, 1.5)] = 0.95
            _save_gray(folder / label / f"{label}_{i:03d}.png", smooth(img, 0.5))


def thyroid_nodules_test(folder: Path, rng: np.random.Generator) -> None:
    """New thyroid cases drawn the same way and kept apart: a test set no model of the demo trains on."""
    thyroid_nodules(folder, rng, per_class=40)


def liver_lesions(folder: Path, rng: np.random.Generator, count: int = 100) -> None:
    c = Canvas(SIZE)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    (folder / "classes.txt").write_text("liver\nlesion\n")
    for i in range(count):
        img = np.full((SIZE, SIZE), 0.05, np.float32)
        img[c.ellipse(64, 64, 58, 44)] = 0.42  # the abdomen
        mask = np.zeros((SIZE, SIZE), np.uint8)
        liver = c.ellipse(50 + rng.normal(0, 3), 58 + rng.normal(0, 3), rng.uniform(26, 32), rng.uniform(20, 26), rng.uniform(-0.4, 0.4))
        img[liver], mask[liver] = 0.58, 1
        ys, xs = np.nonzero(liver)
        for _ in range(rng.integers(0, 4)):
            k = rng.integers(len(xs))
            lesion = c.ellipse(xs[k], ys[k], *rng.uniform(4, 9, 2), rng.uniform(0, 3)) & liver
            img[lesion] -= rng.uniform(0.08, 0.2)  # hypodense, some barely
            mask[lesion] = 2
        img[c.ellipse(64, 94, 8, 8)] = 0.95  # vertebra
        _save_gray(folder / "images" / f"ct_{i:03d}.png", smooth(img, 0.9) + smooth(noise(rng, SIZE, 0.07), 0.6))
        Image.fromarray(mask, "L").save(folder / "masks" / f"ct_{i:03d}.png")
