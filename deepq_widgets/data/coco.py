"""COCO JSON in a dataset folder: `*.json` with images, annotations and categories; detection, and segmentation
when the annotations carry polygons. A malformed entry is a named problem of its image, never of the catalogue."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from .cases import DETECTION, SEGMENTATION, Annotations, Box, Case, Polygon, Problem
from .dataset_files import expand_label_path, inside_dir


def find_coco(folder: Path) -> Path | None:
    for path in sorted(folder.glob("*.json")):
        try:
            head = json.loads(path.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if isinstance(head, dict) and {"images", "annotations", "categories"} <= head.keys():
            return path
    return None


def read_coco(path: Path, folder: Path) -> Annotations:
    doc = json.loads(path.read_text(encoding="utf-8-sig"))
    categories = {c["id"]: str(c["name"]) for c in doc["categories"]}
    annotations = [a for a in doc["annotations"] if isinstance(a, dict)]
    has_polygons = any(isinstance(a.get("segmentation"), list) and a["segmentation"] for a in annotations)
    kind = SEGMENTATION if has_polygons else DETECTION
    out = Annotations("coco", kind, [SEGMENTATION, DETECTION] if has_polygons else [DETECTION], list(categories.values()))
    per_image: dict[int, list[dict]] = {}
    for n, ann in enumerate(annotations):
        if "image_id" not in ann:
            out.problems.append(Problem("layout", f"annotation {ann.get('id', n)} has no image_id; left out", str(path)))
            continue
        per_image.setdefault(ann["image_id"], []).append(ann)
    base = folder / "images" if inside_dir(folder / "images", folder) else folder
    for n, img in enumerate(doc["images"]):
        if not isinstance(img, dict) or not {"id", "file_name"} <= img.keys():
            out.problems.append(Problem("layout", f"image entry {n} lacks id or file_name; left out", str(path)))
            continue
        paths = expand_label_path(str(img["file_name"]), base, folder, str(path), out.problems)
        if not paths:
            continue
        try:
            boxes, polygons, problem = _coco_shapes(per_image.get(img["id"], []), categories)
        except (TypeError, ValueError) as exc:
            out.problems.append(Problem("box", f"image {img['file_name']}: a malformed bbox or polygon ({exc}); left out", str(path)))
            continue
        case = Case(paths[0], boxes=tuple(boxes), polygons=tuple(polygons), width=_int(img.get("width")), height=_int(img.get("height")))
        case.labels = tuple(sorted({b.label for b in boxes}))
        if problem:
            case.problem = problem
            out.problems.append(Problem("unknown_class", problem, str(case.image)))
        out.cases.append(case)
    return out


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def _coco_shapes(anns: Iterable[dict], categories: dict[int, str]) -> tuple[list[Box], list[Polygon], str | None]:
    boxes, polygons, unknown = [], [], set()
    for ann in anns:
        label = categories.get(ann.get("category_id"))
        if label is None:
            unknown.add(str(ann.get("category_id")))
            continue
        if ann.get("bbox"):
            box = Box(label, *map(float, ann["bbox"][:4]))
            if not box.valid():
                raise ValueError(f"bbox {ann['bbox']} is not finite or has no area")
            boxes.append(box)
        for poly in ann.get("segmentation") or [] if isinstance(ann.get("segmentation"), list) else []:
            polygons.append(Polygon(label, tuple(map(float, poly))))
    problem = f"unknown category id {', '.join(sorted(unknown))}" if unknown else None
    return boxes, polygons, problem
