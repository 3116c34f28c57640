"""A reviewer's decisions on likely label errors, kept beside the dataset in `label_corrections.csv` and never
written into its own label file: a task trains on them only when its task file says so (`label_corrections`),
so the original labels stay what they were and every run says which labels it used.

One row per reviewed case: `image,given,label`, the image as the dataset names it (relative to its folder), the
label it was given, and the label the reviewer chose (the given one: kept as it is).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from ..files import atomic_write_text
from .cases import Case

CORRECTIONS = "label_corrections.csv"
COLUMNS = ("image", "given", "label")


@dataclass(frozen=True)
class Correction:
    image: str
    given: str
    label: str

    @property
    def relabels(self) -> bool:
        return self.label != self.given


def read_corrections(folder: Path) -> dict[str, Correction]:
    """The decisions recorded for the dataset in `folder`, by image ({} when none)."""
    path = folder / CORRECTIONS
    if not path.is_file():
        return {}
    rows = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
    if tuple(rows.fieldnames or ()) != COLUMNS:
        raise ValueError(f"{path}: expected the columns {','.join(COLUMNS)}, found {','.join(rows.fieldnames or ())}")
    return {r["image"]: Correction(r["image"], r["given"], r["label"]) for r in rows}


def record_corrections(folder: Path, decisions: list[Correction], classes: list[str]) -> Path:
    """Add (or replace) these decisions in the dataset's corrections file, atomically; a label that is not one of
    the dataset's classes, or an image outside it, is refused."""
    for d in decisions:
        if d.label not in classes:
            raise ValueError(f"{d.label!r} is not a class of this dataset ({', '.join(classes)})")
        if Path(d.image).is_absolute() or ".." in Path(d.image).parts:
            raise ValueError(f"{d.image!r} is not an image of this dataset")
    kept = read_corrections(folder) | {d.image: d for d in decisions}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows((c.image, c.given, c.label) for c in sorted(kept.values(), key=lambda c: c.image))
    target = folder / CORRECTIONS
    atomic_write_text(out.getvalue(), target)
    return target


def case_name(case: Case, folder: Path) -> str:
    """How a correction names a case: its image (or study) relative to the dataset folder."""
    return Path(case.image).resolve().relative_to(folder.resolve()).as_posix()


def apply_corrections(cases: list[Case], folder: Path, classes: list[str]) -> int:
    """Give each single-label case the label its correction chose (where it was given the label the correction
    saw); the number of cases relabelled."""
    found, changed = read_corrections(folder), 0
    for case in cases:
        if len(case.labels) != 1 or (c := found.get(case_name(case, folder))) is None:
            continue
        if c.relabels and case.labels[0] == c.given and c.label in classes:
            case.labels = (c.label,)
            changed += 1
    return changed
