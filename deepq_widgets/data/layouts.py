"""Annotation layouts: recognise how a dataset folder is labelled and read its cases.

Recognised, in this order:
- `label.csv` as `path,class` (single-label), `path,class,value` (multi-label) or
  `image,object,xLeft,yTop,width,height` (detection); paths may be PNG, JPG or DICOM files,
  or folders holding a DICOM series;
- COCO JSON (`*.json` with images, annotations and categories): detection, and
  segmentation when the annotations carry polygons;
- mask folders: `images/` and `masks/` with matching file stems (segmentation);
- class folders: one sub-folder of images per class (single-label).
An optional `classes.txt` declares the class names; labels outside it are reported.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from pathlib import Path

from .cases import Annotations, Box, Case, Polygon, Problem
from .readers import IMAGE_SUFFIXES

LABEL_CSV_NAMES = ("label.csv", "labels.csv")
SINGLE = "single_label"
MULTI = "multi_label"
DETECTION = "detection"
SEGMENTATION = "segmentation"

CSV_COLUMNS = {
    DETECTION: ("image", "object", "xleft", "ytop", "width", "height"),
    MULTI: ("path", "class", "value"),
    SINGLE: ("path", "class"),
}

Resolver = Callable[[str, Path], Path]  # (user path, base folder) -> path inside the workspace


def read_layout(folder: Path, resolve: Resolver) -> Annotations:
    """Read the annotations of one dataset folder; never raises for bad content."""
    declared = _declared_classes(folder)
    for name in LABEL_CSV_NAMES:
        if (folder / name).is_file():
            return _read_csv(folder / name, folder, resolve, declared)
    coco = _find_coco(folder)
    if coco is not None:
        return _read_coco(coco, folder, resolve)
    if (folder / "images").is_dir() and (folder / "masks").is_dir():
        return _read_mask_folders(folder, declared)
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if subdirs:
        return _read_class_folders(folder, subdirs)
    loose = [p for p in folder.iterdir() if p.is_file()]
    why = "empty folder" if not loose else "no label.csv, COCO JSON, images/+masks/ or class folders found"
    return Annotations("unknown", "", [], [], problems=[Problem("layout", why, str(folder))])


def _declared_classes(folder: Path) -> list[str] | None:
    path = folder / "classes.txt"
    if not path.is_file():
        return None
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


# -- label.csv -------------------------------------------------------------------------
def _read_csv(path: Path, folder: Path, resolve: Resolver, declared: list[str] | None) -> Annotations:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return Annotations("label_csv", "", [], [], problems=[Problem("layout", "empty label file", str(path))])
    header = [h.strip().lower() for h in rows[0]]
    kind = next((k for k, cols in CSV_COLUMNS.items() if all(c in header for c in cols)), None)
    if kind is None:
        expected = " or ".join(",".join(c) for c in CSV_COLUMNS.values())
        message = f"missing columns: header is {','.join(rows[0])!r}, expected {expected}"
        return Annotations("label_csv", "", [], [], problems=[Problem("layout", message, str(path))])
    col = {name: header.index(name) for name in CSV_COLUMNS[kind]}
    records = [dict((k, r[i].strip() if i < len(r) else "") for k, i in col.items()) for r in rows[1:] if any(r)]
    out = Annotations("label_csv", kind, [kind], [])
    grouped: dict[str, list[dict[str, str]]] = {}
    for rec in records:
        grouped.setdefault(rec["image" if kind == DETECTION else "path"], []).append(rec)
    for rel, recs in grouped.items():
        labels, boxes = _labels_from_rows(kind, recs, path, out.problems)
        for image in _expand(rel, folder, resolve, str(path), out.problems):
            out.cases.append(Case(image, labels=labels, boxes=boxes))
    out.classes = _class_list(kind, records, declared)
    _flag_unknown(out, declared, str(path))
    return out


def _labels_from_rows(kind: str, recs: list[dict[str, str]], path: Path, problems: list[Problem]) -> tuple:
    if kind == SINGLE:
        names = {r["class"] for r in recs if r["class"]}
        if len(names) > 1:
            problems.append(Problem("layout", f"{recs[0]['path']} has several classes {sorted(names)} in a single-label file", str(path)))
        return tuple(sorted(names))[:1], ()
    if kind == MULTI:
        return tuple(sorted({r["class"] for r in recs if _truthy(r["value"])})), ()
    boxes = []
    for r in recs:
        if not r["object"]:
            continue  # an image row with no object: a negative image
        try:
            boxes.append(Box(r["object"], float(r["xleft"]), float(r["ytop"]), float(r["width"]), float(r["height"])))
        except ValueError:
            problems.append(Problem("box", f"non-numeric box for {r['image']}: {r}", str(path)))
    return tuple(sorted({b.label for b in boxes})), tuple(boxes)


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "1.0", "true", "yes", "y", "positive"}


def _class_list(kind: str, records: list[dict[str, str]], declared: list[str] | None) -> list[str]:
    if declared:
        return declared
    key = "object" if kind == DETECTION else "class"
    return list(dict.fromkeys(r[key] for r in records if r[key]))  # in order of first appearance


def _expand(rel: str, folder: Path, resolve: Resolver, source: str, problems: list[Problem]) -> list[Path]:
    """A CSV path names a file, or a folder that holds a DICOM series (one case per slice)."""
    if not rel:
        problems.append(Problem("layout", "a row has an empty path", source))
        return []
    try:
        path = resolve(rel, folder)
    except ValueError as exc:
        problems.append(Problem("outside", str(exc), source))
        return []
    if path.is_dir():
        slices = _images_in(path)
        if not slices:
            problems.append(Problem("missing_file", f"label points to folder {rel!r} with no images", source))
        return slices
    return [path]  # missing files are found when the images are probed


def _flag_unknown(out: Annotations, declared: list[str] | None, source: str) -> None:
    if not declared:
        return
    allowed = set(declared)
    for case in out.cases:
        unknown = sorted({*case.labels, *(b.label for b in case.boxes), *(p.label for p in case.polygons)} - allowed)
        if unknown:
            case.problem = f"unknown class {', '.join(unknown)} (not in classes.txt)"
            out.problems.append(Problem("unknown_class", case.problem, str(case.image)))


# -- COCO --------------------------------------------------------------------------------
def _find_coco(folder: Path) -> Path | None:
    for path in sorted(folder.glob("*.json")):
        try:
            head = json.loads(path.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if isinstance(head, dict) and {"images", "annotations", "categories"} <= head.keys():
            return path
    return None


def _read_coco(path: Path, folder: Path, resolve: Resolver) -> Annotations:
    doc = json.loads(path.read_text())
    categories = {c["id"]: str(c["name"]) for c in doc["categories"]}
    has_polygons = any(isinstance(a.get("segmentation"), list) and a["segmentation"] for a in doc["annotations"])
    kind = SEGMENTATION if has_polygons else DETECTION
    out = Annotations("coco", kind, [SEGMENTATION, DETECTION] if has_polygons else [DETECTION], list(categories.values()))
    per_image: dict[int, list[dict]] = {}
    for ann in doc["annotations"]:
        per_image.setdefault(ann["image_id"], []).append(ann)
    base = folder / "images" if (folder / "images").is_dir() else folder
    for img in doc["images"]:
        paths = _expand(str(img["file_name"]), base, resolve, str(path), out.problems)
        if not paths:
            continue
        boxes, polygons, problem = _coco_shapes(per_image.get(img["id"], []), categories)
        case = Case(
            paths[0], boxes=tuple(boxes), polygons=tuple(polygons), width=int(img.get("width", 0)), height=int(img.get("height", 0))
        )
        case.labels = tuple(sorted({b.label for b in boxes}))
        if problem:
            case.problem = problem
            out.problems.append(Problem("unknown_class", problem, str(case.image)))
        out.cases.append(case)
    return out


def _coco_shapes(anns: Iterable[dict], categories: dict[int, str]) -> tuple[list[Box], list[Polygon], str | None]:
    boxes, polygons, unknown = [], [], set()
    for ann in anns:
        label = categories.get(ann.get("category_id"))
        if label is None:
            unknown.add(str(ann.get("category_id")))
            continue
        if ann.get("bbox"):
            boxes.append(Box(label, *map(float, ann["bbox"][:4])))
        for poly in ann.get("segmentation") or [] if isinstance(ann.get("segmentation"), list) else []:
            polygons.append(Polygon(label, tuple(map(float, poly))))
    problem = f"unknown category id {', '.join(sorted(unknown))}" if unknown else None
    return boxes, polygons, problem


# -- mask folders and class folders -------------------------------------------------------
def _read_mask_folders(folder: Path, declared: list[str] | None) -> Annotations:
    classes = declared or ["foreground"]
    out = Annotations("mask_folders", SEGMENTATION, [SEGMENTATION], classes)
    masks = {p.stem: p for p in _images_in(folder / "masks")}
    for image in _images_in(folder / "images"):
        mask = masks.pop(image.stem, None)
        case = Case(image, mask=mask)
        if mask is None:
            case.problem = "no mask with the same name in masks/"
            out.problems.append(Problem("missing_file", case.problem, str(image)))
        out.cases.append(case)
    for stem, mask in sorted(masks.items()):
        out.problems.append(Problem("missing_file", f"mask has no image named {stem}.* in images/", str(mask)))
    return out


def _read_class_folders(folder: Path, subdirs: list[Path]) -> Annotations:
    out = Annotations("class_folders", SINGLE, [SINGLE], [d.name for d in subdirs])
    for sub in subdirs:
        images = _images_in(sub)
        if not images:
            out.problems.append(Problem("few_cases", "class folder holds no images", str(sub)))
        out.cases.extend(Case(p, labels=(sub.name,)) for p in images)
    stray = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    out.problems.extend(Problem("layout", "image outside any class folder; not used", str(p)) for p in stray)
    return out
