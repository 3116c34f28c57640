"""General demo datasets as PNG, one per task type and annotation layout.

- ultrasound_lesions: class folders (benign, malignant, normal), single-label;
- fundus_findings: label.csv path,class,value, multi-label;
- lung_nodules: label.csv image,object,xLeft,yTop,width,height, detection;
- polyps_coco: COCO JSON with boxes and polygons, detection and segmentation;
- abdomen_organs: images/ and masks/ with classes.txt, segmentation.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image

from .draw import Canvas, branches, noise, smooth

SIZE = 128


def _save_gray(path: Path, img: np.ndarray) -> None:
    Image.fromarray(np.clip(img * 255, 0, 255).astype(np.uint8), "L").save(path)


def _save_rgb(path: Path, img: np.ndarray) -> None:
    Image.fromarray(np.clip(img * 255, 0, 255).astype(np.uint8), "RGB").save(path)


def ultrasound_lesions(folder: Path, rng: np.random.Generator, per_class: int = 40) -> None:
    c = Canvas(SIZE)
    for label in ("benign", "malignant", "normal"):
        (folder / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = 0.45 + smooth(noise(rng, SIZE, 0.12), 1.0) + 0.1 * (c.yy / SIZE)
            x, y = rng.uniform(40, 88, 2)
            if label == "benign":  # smooth, oval, homogeneous, with posterior enhancement
                rx, ry = rng.uniform(12, 20), rng.uniform(8, 13)
                img[c.ellipse(x, y, rx, ry, rng.uniform(-0.3, 0.3))] = 0.12
                img[c.ellipse(x, y + ry + 10, rx * 0.8, 8)] += 0.15
            elif label == "malignant":  # irregular, spiculated, taller than wide, shadowing
                theta, r = c.polar(x, y)
                edge = rng.uniform(9, 14) * (1 + 0.35 * np.sin(7 * theta + rng.uniform(0, 6)) + 0.15 * np.sin(13 * theta))
                img[r < edge] = 0.08 + 0.08 * rng.random()
                img[(c.yy > y) & (np.abs(c.xx - x) < 9)] *= 0.55
            _save_gray(folder / label / f"{label}_{i:03d}.png", smooth(img, 0.6))


def fundus_findings(folder: Path, rng: np.random.Generator, count: int = 120) -> None:
    classes = ["hemorrhage", "exudate", "cotton_wool"]
    c = Canvas(SIZE)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(count):
        eye = c.ellipse(64, 64, 60, 60)
        img = np.zeros((SIZE, SIZE, 3), np.float32)
        shade = 1 - 0.5 * ((c.xx - 64) ** 2 + (c.yy - 64) ** 2) / 3600
        img[eye] = (np.stack([0.85 * shade, 0.38 * shade, 0.18 * shade], -1))[eye]
        dx = rng.choice([40, 88])
        img[c.ellipse(dx, 64, 9, 10)] = (0.98, 0.9, 0.6)  # optic disc
        img[branches(c, rng, eye, 10, 1.6, steps=14)] = (0.55, 0.12, 0.08)  # vessels
        present = [k for k in classes if rng.random() < 0.4]
        for _ in range(rng.integers(3, 7) if "hemorrhage" in present else 0):
            img[c.ellipse(*rng.uniform(30, 98, 2), *rng.uniform(2.5, 5, 2)) & eye] = (0.35, 0.03, 0.02)
        for _ in range(rng.integers(6, 14) if "exudate" in present else 0):
            img[c.ellipse(*rng.uniform(35, 93, 2), 1.6, 1.6) & eye] = (1.0, 0.95, 0.3)
        for _ in range(rng.integers(2, 4) if "cotton_wool" in present else 0):
            img[c.ellipse(*rng.uniform(35, 93, 2), *rng.uniform(4, 7, 2), rng.uniform(0, 3)) & eye] = (0.95, 0.92, 0.88)
        img = np.stack([smooth(img[..., k], 0.7) for k in range(3)], -1) + noise(rng, SIZE, 0.015)[..., None]
        name = f"images/fundus_{i:03d}.png"
        _save_rgb(folder / name, img)
        rows += [(name, k, int(k in present)) for k in classes]
    with open(folder / "label.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "class", "value"), *rows])


def _chest_background(c: Canvas, rng: np.random.Generator) -> np.ndarray:
    img = np.full((SIZE, SIZE), 0.15, np.float32)
    img[c.ellipse(64, 72, 60, 70)] = 0.6
    for sgn in (-1, 1):
        img[c.ellipse(64 + sgn * 25, 66, 20, 42)] = 0.25
    return img + smooth(noise(rng, SIZE, 0.05), 1.2)


def lung_nodules(folder: Path, rng: np.random.Generator, count: int = 120) -> None:
    c = Canvas(SIZE)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(count):
        img = _chest_background(c, rng)
        name = f"images/cxr_{i:03d}.png"
        objects = []
        for _ in range(rng.integers(0, 3)):
            label = "mass" if rng.random() < 0.35 else "nodule"
            r = rng.uniform(10, 15) if label == "mass" else rng.uniform(4, 7)
            x, y = rng.uniform(r + 4, SIZE - r - 4), rng.uniform(r + 4, SIZE - r - 4)
            img[c.ellipse(x, y, r, r)] += 0.35
            objects.append((label, x - r, y - r, 2 * r, 2 * r))
        _save_gray(folder / name, smooth(img, 0.8))
        rows += [(name, o, f"{x:.1f}", f"{y:.1f}", f"{w:.1f}", f"{h:.1f}") for o, x, y, w, h in objects] or [(name, "", "", "", "", "")]
    with open(folder / "label.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("image", "object", "xLeft", "yTop", "width", "height"), *rows])


def polyps_coco(folder: Path, rng: np.random.Generator, count: int = 100) -> None:
    c = Canvas(SIZE)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in range(count):
        img = np.stack([0.75 + 0 * c.xx, 0.42 + 0 * c.xx, 0.38 + 0 * c.xx], -1) * (1 - 0.4 * np.hypot(c.xx - 64, c.yy - 64)[..., None] / 90)
        img += smooth(noise(rng, SIZE, 0.06), 2.0)[..., None]
        for _ in range(rng.integers(0, 3)):
            x, y = rng.uniform(24, 104, 2)
            theta, r = c.polar(x, y)
            radius = rng.uniform(8, 16)
            angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
            radii = radius * (1 + 0.15 * np.sin(3 * angles + rng.uniform(0, 6)))
            poly = [float(v) for a, rr in zip(angles, radii, strict=False) for v in (x + rr * np.cos(a), y + rr * np.sin(a))]
            img[r < np.interp(theta % (2 * np.pi), angles, radii, period=2 * np.pi)] = (0.92, 0.55, 0.45)
            xs, ys = poly[0::2], poly[1::2]
            bbox = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": 1,
                    "bbox": bbox,
                    "area": bbox[2] * bbox[3],
                    "segmentation": [poly],
                    "iscrowd": 0,
                }
            )
        name = f"polyp_{i:03d}.png"
        _save_rgb(folder / "images" / name, img)
        images.append({"id": i + 1, "file_name": name, "width": SIZE, "height": SIZE})
    doc = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "polyp"}]}
    (folder / "annotations.json").write_text(json.dumps(doc))


def abdomen_organs(folder: Path, rng: np.random.Generator, count: int = 100) -> None:
    c = Canvas(SIZE)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    (folder / "classes.txt").write_text("liver\nkidney\n")
    for i in range(count):
        img = np.full((SIZE, SIZE), 0.05, np.float32)
        img[c.ellipse(64, 64, 58, 44)] = 0.45
        mask = np.zeros((SIZE, SIZE), np.uint8)
        liver = c.ellipse(44 + rng.normal(0, 3), 52 + rng.normal(0, 3), rng.uniform(20, 28), rng.uniform(16, 22), rng.uniform(-0.4, 0.4))
        img[liver], mask[liver] = 0.62, 1
        for sgn in (-1, 1):
            if rng.random() < 0.85:
                kidney = c.ellipse(64 + sgn * 30 + rng.normal(0, 2), 82 + rng.normal(0, 2), 7, 11, sgn * 0.3)
                img[kidney], mask[kidney] = 0.75, 2
        img[c.ellipse(64, 92, 8, 8)] = 0.95  # vertebra
        _save_gray(folder / "images" / f"ct_{i:03d}.png", smooth(img, 0.7) + noise(rng, SIZE, 0.03))
        Image.fromarray(mask, "L").save(folder / "masks" / f"ct_{i:03d}.png")
