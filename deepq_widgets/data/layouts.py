"""Annotation layouts: recognise how a dataset folder is labelled and read its cases.

Recognised, in this order:
- `label.csv` as `path,class` (single-label), `path,class,value` (multi-label) or
  `image,object,xLeft,yTop,width,height` (detection), or in a layout a task kind declares
  (`kinds.base.LabelFormat`: `path,value` for regression); paths may be PNG, JPG or DICOM
  files, or (single-label) series folders and volumes, each one study (study_layouts.py);
- COCO JSON (coco.py): detection, and segmentation when the annotations carry polygons;
- mask folders: `images/` and `masks/` with matching file stems (segmentation);
- class folders: one sub-folder of images per class (single-label).
An optional `classes.txt` declares the class names; labels outside it are reported.

Every path followed stays inside the dataset folder (dataset_files.py); a label file that cannot
be parsed is a named problem of that file, never a failure of the catalogue.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from .. import kinds
from ..kinds.base import LabelFormat
from .cases import DETECTION, MULTI, NO_LABEL, SEGMENTATION, SINGLE, Annotations, Box, Case, Problem
from .coco import find_coco, read_coco
from .dataset_files import expand_label_path, images_in, inside_dir, printable, resolve_label_path
from .readers import IMAGE_SUFFIXES
from .studies import is_volume_file
from .study_layouts import STUDY, class_folder_studies, names_study, study_cases, volume_segmentation
from .volume_masks import mask_stem

LABEL_CSV_NAMES = ("label.csv", "labels.csv")

CSV_COLUMNS = {
    DETECTION: ("image", "object", "xleft", "ytop", "width", "height"),
    MULTI: ("path", "class", "value"),
    SINGLE: ("path", "class"),
}


def read_layout(folder: Path) -> Annotations:
    """Read the annotations of one dataset folder; never raises for bad content."""
    folder = folder.resolve()
    problems: list[Problem] = []
    declared = _declared_classes(folder, problems)
    found = _read_any(folder, declared)
    found.problems[:0] = problems
    return found


def _read_any(folder: Path, declared: list[str] | None) -> Annotations:
    for name in LABEL_CSV_NAMES:
        if (folder / name).is_file():
            return _unreadable_as_problem(folder / name, lambda path: _read_csv(path, folder, declared))
    coco = find_coco(folder)
    if coco is not None:
        return _unreadable_as_problem(coco, lambda path: read_coco(path, folder))
    if inside_dir(folder / "images", folder) and inside_dir(folder / "masks", folder):
        return _read_mask_folders(folder, declared)
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if subdirs:
        return _read_class_folders(folder, subdirs)
    loose = [p for p in folder.iterdir() if p.is_file()]
    why = "empty folder" if not loose else "no label.csv, COCO JSON, images/+masks/ or class folders found"
    return Annotations("unknown", "", [], [], problems=[Problem("layout", why, str(folder))])


def _unreadable_as_problem(path: Path, read) -> Annotations:
    """A label file that cannot be parsed is a problem of that file, named, and the dataset has no cases."""
    try:
        return read(path)
    except (csv.Error, KeyError, TypeError, ValueError, AttributeError, IndexError, OSError, RecursionError) as exc:
        message = f"cannot be read: {type(exc).__name__}: {exc}"
        return Annotations("unreadable", "", [], [], problems=[Problem("layout", message, printable(path))])


def _declared_classes(folder: Path, problems: list[Problem]) -> list[str] | None:
    path = folder / "classes.txt"
    if not path.is_file():
        return None
    return [line.strip() for line in _text(path, problems).splitlines() if line.strip()]


def _text(path: Path, problems: list[Problem]) -> str:
    """A text file as written: UTF-8 (with or without BOM), UTF-16 with its BOM, or else read as
    Windows-1252 with a problem saying so (names may then be wrong)."""
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(Problem("layout", f"not UTF-8 (byte {exc.start}): read as Windows-1252; save it as UTF-8", printable(path)))
        return raw.decode("cp1252", errors="replace")


# -- label.csv -------------------------------------------------------------------------
def _read_csv(path: Path, folder: Path, declared: list[str] | None) -> Annotations:
    read_problems: list[Problem] = []
    reader = csv.reader(io.StringIO(_text(path, read_problems), newline=""))
    try:
        rows = list(reader)
    except csv.Error as exc:  # e.g. a field over the csv module's 128 KiB limit
        raise ValueError(f"line {reader.line_num}: {exc}") from None
    if not rows:
        return Annotations("label_csv", "", [], [], problems=[Problem("layout", "empty label file", str(path))])
    header = [h.strip().lower() for h in rows[0]]
    kind = next((k for k, cols in CSV_COLUMNS.items() if all(c in header for c in cols)), None)
    declared_by_kind = next((f for f in kinds.label_formats() if all(c in header for c in f.columns)), None)
    if kind is None and declared_by_kind is not None:
        return _read_kind_format(path, folder, declared_by_kind, rows[1:], header, read_problems)
    if kind is not None:
        col = {name: header.index(name) for name in CSV_COLUMNS[kind]}
        if kind == SINGLE and "slice" in header:  # studies: a row may label one slice of the study it names
            col["slice"] = header.index("slice")
        body = rows[1:]
    else:  # DeepQ's own label files have no header: the column order of the annotation type
        marked = _marked_format(rows[0], folder)
        if marked is not None:
            return _read_kind_format(path, folder, marked, rows, list(marked.columns), read_problems)
        kind = _headerless_kind(rows[0], folder)
        if kind is None:
            expected = " or ".join(",".join(c) for c in [*CSV_COLUMNS.values(), *(f.columns for f in kinds.label_formats())])
            message = (
                f"missing columns: the first row {','.join(rows[0])!r} is neither a header ({expected}) "
                "nor a row of an image that exists in this folder"
            )
            return Annotations("label_csv", "", [], [], problems=[Problem("layout", message, str(path))])
        col = {name: i for i, name in enumerate(CSV_COLUMNS[kind])}
        body = rows
    extra = {name: i for i, name in enumerate(header) if name and name not in col} if body is not rows else {}
    records = [dict((k, r[i].strip() if i < len(r) else "") for k, i in (col | extra).items()) for r in body if any(r)]
    out = Annotations("label_csv", kind, [kind], [], problems=read_problems)
    grouped: dict[str, list[dict[str, str]]] = {}
    for rec in records:
        grouped.setdefault(rec["image" if kind == DETECTION else "path"], []).append(rec)
    if kind == SINGLE and _names_studies(grouped, folder):
        return _read_study_rows(grouped, path, folder, declared, records, out)
    for rel, recs in grouped.items():
        labels, boxes = _labels_from_rows(kind, recs, path, out.problems)
        attributes = {name: recs[0][name] for name in extra if recs[0][name]}
        for image in images_of_row(rel, folder, str(path), out.problems, kind):
            case = Case(image, labels=labels, boxes=boxes, attributes=attributes)
            if kind == SINGLE and not labels:
                case.problem = NO_LABEL
            out.cases.append(case)
    out.classes = _class_list(kind, records, declared)
    _flag_unknown(out, declared, str(path))
    return out


def images_of_row(rel: str, folder: Path, source: str, problems: list[Problem], annotation: str) -> list[Path]:
    """The images a label row of a task on single images names: a file, or each picture of a folder. A row that
    names a study (a series folder or a volume) is left out with the reason: its labels would be copied to every
    slice, most of which may not show the finding (only single-label rows label studies, read as such)."""
    target = resolve_label_path(rel, folder, folder, "", [])
    if target is not None and names_study(target):
        problems.append(
            Problem(
                "layout",
                f"{rel} is a study (a series of slices or a volume), and a {annotation.replace('_', '-')} task reads single "
                "images: its labels would be copied to every slice, most of which may not show them. Label its slices "
                "(rows naming its files), or use study classification for one label per study; left out",
                source,
            )
        )
        return []
    return expand_label_path(rel, folder, folder, source, problems)


def _names_studies(grouped: dict[str, list[dict[str, str]]], folder: Path) -> bool:
    """Whether any row of a label file names a series folder or a volume (inside the dataset; the rest is
    reported when the rows are read)."""
    return any((path := resolve_label_path(rel, folder, folder, "", [])) is not None and names_study(path) for rel in grouped)


def _read_study_rows(
    grouped: dict[str, list[dict[str, str]]],
    path: Path,
    folder: Path,
    declared: list[str] | None,
    records: list[dict[str, str]],
    out: Annotations,
) -> Annotations:
    """A label file of studies: rows naming a folder or volume label the study; rows naming files inside it, or the
    study with a `slice` number (1 the first in patient order), label slices."""
    studies, slices, numbered = {}, {}, {}
    for rel, recs in grouped.items():
        target = resolve_label_path(rel, folder, folder, str(path), out.problems)
        if target is None:
            continue
        whole = [r for r in recs if not r.get("slice")]
        if whole or not names_study(target):
            labels, _ = _labels_from_rows(SINGLE, whole or recs, path, out.problems)
            (studies if names_study(target) else slices)[target] = labels
        for rec in (r for r in recs if r.get("slice")):
            number = rec["slice"]
            if not number.isdigit() or int(number) < 1:
                out.problems.append(Problem("layout", f"slice {number!r} of {rel} is not a slice number (1, 2, ...)", str(path)))
                continue
            numbered.setdefault((target, int(number)), _labels_from_rows(SINGLE, [rec], path, out.problems)[0])
    out.annotation, out.fits = STUDY, [STUDY]
    files = lambda p: images_in(p, folder, out.problems, every=True)  # noqa: E731 - the files of one study
    out.cases = study_cases(studies, slices, files, str(path), out.problems, numbered)
    for case in out.cases:
        if not case.labels and case.problem is None:
            case.problem = NO_LABEL
    out.classes = _class_list(SINGLE, records, declared)
    _flag_unknown(out, declared, str(path))
    return out


def _marked_format(first: list[str], folder: Path) -> LabelFormat | None:
    """A kind's format for a label file without a header: its marker (target.txt) is here, the row its width."""
    width = len([f for f in first if f.strip()])
    return next((f for f in kinds.label_formats() if f.marker and (folder / f.marker).is_file() and len(f.columns) == width), None)


def _read_kind_format(
    path: Path, folder: Path, fmt: LabelFormat, body: list[list[str]], header: list[str], problems: list[Problem]
) -> Annotations:
    """A label file in a layout a kind declares: the kind reads each image's rows and names the classes."""
    col = {name: header.index(name) for name in fmt.columns}
    records = [{k: r[i].strip() if i < len(r) else "" for k, i in col.items()} for r in body if any(r)]
    refused = fmt.refuse(records)
    if refused:
        return Annotations("label_csv", "", [], [], problems=[*problems, Problem("layout", refused, str(path))])
    marker = folder / fmt.marker if fmt.marker else None
    lines = [ln.strip() for ln in _text(marker, problems).splitlines() if ln.strip()] if marker and marker.is_file() else []
    out = Annotations("label_csv", fmt.annotation, [fmt.annotation], fmt.classes(lines, records), problems=problems)
    grouped: dict[str, list[dict[str, str]]] = {}
    for rec in records:
        grouped.setdefault(rec[fmt.columns[0]], []).append(rec)
    for rel, recs in grouped.items():
        reading = fmt.read_rows(recs, out.classes)
        if reading.problem:
            out.problems.append(Problem("layout", f"{rel}: {reading.problem}; left out", str(path)))
        for image in images_of_row(rel, folder, str(path), out.problems, fmt.annotation):
            out.cases.append(Case(image, labels=reading.labels, fields=dict(reading.fields), problem=reading.problem))
    return out


def _headerless_kind(first: list[str], folder: Path) -> str | None:
    """The annotation type of a label file without a header, from its first row: its first field
    names an image of this folder, and its number of fields is that of one column order."""
    by_width = {len(cols): kind for kind, cols in CSV_COLUMNS.items()}
    fields = [f.strip() for f in first]
    while fields and not fields[-1]:
        fields.pop()
    if len(fields) not in by_width or not fields[0]:
        return None
    image = (folder / fields[0]).resolve()
    return by_width[len(fields)] if image.is_relative_to(folder) and image.exists() else None


def _labels_from_rows(kind: str, recs: list[dict[str, str]], path: Path, problems: list[Problem]) -> tuple:
    if kind == SINGLE:
        names = {r["class"] for r in recs if r["class"]}
        if not names:
            problems.append(Problem("layout", f"{recs[0]['path']} has no class; left out", str(path)))
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
            box = Box(r["object"], float(r["xleft"]), float(r["ytop"]), float(r["width"]), float(r["height"]))
        except ValueError:
            problems.append(Problem("box", f"non-numeric box for {r['image']}: {r}", str(path)))
            continue
        if not box.valid():
            problems.append(Problem("box", f"box for {r['image']} is not finite or has no area: {r}; left out", str(path)))
            continue
        boxes.append(box)
    return tuple(sorted({b.label for b in boxes})), tuple(boxes)


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "1.0", "true", "yes", "y", "positive"}


def _class_list(kind: str, records: list[dict[str, str]], declared: list[str] | None) -> list[str]:
    if declared:
        return declared
    key = "object" if kind == DETECTION else "class"
    return list(dict.fromkeys(r[key] for r in records if r[key]))  # in order of first appearance


def _flag_unknown(out: Annotations, declared: list[str] | None, source: str) -> None:
    if not declared:
        return
    allowed = set(declared)
    for case in out.cases:
        unknown = sorted({*case.labels, *(b.label for b in case.boxes), *(p.label for p in case.polygons)} - allowed)
        if unknown:
            case.problem = f"unknown class {', '.join(unknown)} (not in classes.txt)"
            out.problems.append(Problem("unknown_class", case.problem, str(case.image)))


# -- mask folders and class folders -------------------------------------------------------
def _read_mask_folders(folder: Path, declared: list[str] | None) -> Annotations:
    """Images and masks of the same name; volumes (series folders, NIfTI) with a SEG, RTSTRUCT or NIfTI label map."""
    out = Annotations("mask_folders", SEGMENTATION, [SEGMENTATION], declared or ["foreground"])
    entries = {mask_stem(p): p for p in sorted((folder / "masks").iterdir()) if not p.name.startswith(".") and not p.is_symlink()}
    unpaired = dict(entries)  # volume_segmentation takes the masks of volumes out
    every = lambda p: images_in(p, folder, out.problems, every=True)  # noqa: E731 - the files of one volume
    out.cases, out.classes, volumes = volume_segmentation(folder / "images", unpaired, declared, every, out.problems)
    taken = set(entries.values()) - set(unpaired.values())
    masks = {p.stem: p for p in images_in(folder / "masks", folder, out.problems) if p not in taken}
    for image in images_in(folder / "images", folder, out.problems):
        if any(image.is_relative_to(v) for v in volumes):
            continue
        mask = masks.pop(image.stem, None)
        case = Case(image, mask=mask)
        if mask is None:
            case.problem = "no mask with the same name in masks/"
            out.problems.append(Problem("missing_file", case.problem, str(image)))
        out.cases.append(case)
    masks |= {stem: p for stem, p in unpaired.items() if is_volume_file(p)}  # a label map without its volume
    for stem, mask in sorted(masks.items()):
        out.problems.append(Problem("missing_file", f"mask has no image named {stem}.* in images/", str(mask)))
    return out


def _read_class_folders(folder: Path, subdirs: list[Path]) -> Annotations:
    """One folder per class, of images, or of studies (series folders or volumes: each one case)."""
    out = Annotations("class_folders", SINGLE, [SINGLE], [d.name for d in subdirs])
    for sub in subdirs:
        studies = class_folder_studies(sub, folder, lambda p: images_in(p, folder, out.problems, every=True), out.problems)
        if studies is not None:
            out.annotation, out.fits = STUDY, [STUDY]
            out.cases.extend(studies)
            continue
        images = images_in(sub, folder, out.problems)
        if not images:
            out.problems.append(Problem("few_cases", "class folder holds no images", str(sub)))
        out.cases.extend(Case(p, labels=(sub.name,)) for p in images)
    stray = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    out.problems.extend(Problem("layout", "image outside any class folder; not used", str(p)) for p in stray)
    return out
