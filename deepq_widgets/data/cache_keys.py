"""What the training cache keys its rows by: a case (its files' sizes and modification times and its annotation),
a study's slice (its file and frame), and a dataset (its cases' keys and classes), so a corrected file, a relabelled
case or a changed dataset is told apart from what was decoded before."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from .cases import Case
from .catalog import DatasetInfo
from .studies import SliceRef


def case_key(case: Case) -> str:
    """What a case is: its files' sizes and modification times (a study's: its slices'), its annotation. A
    corrected file gets a new key."""
    if case.volume is not None:
        stamps = [slice_key(ref) for ref in case.volume.slices] + [str(sorted(case.volume.slice_labels.items()))]
    else:
        stamps = [f"{p}|{p.stat().st_size}|{p.stat().st_mtime_ns}" for p in (case.image, case.mask) if p is not None]
    if case.slice is not None:
        stamps.append(f"slice {case.slice.index}")
    text = f"{'|'.join(stamps)}|{case.labels}|{case.boxes}|{case.polygons}" + (f"|{sorted(case.fields.items())}" if case.fields else "")
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def slice_key(ref: SliceRef) -> str:
    """What one slice is: its file's size and modification time, and its frame. A study's slices are cached once
    each, under this key, so a study relabelled or regrouped decodes nothing again."""
    stat = ref.path.stat()
    return hashlib.sha256(f"{ref.path}|{stat.st_size}|{stat.st_mtime_ns}|{ref.frame}".encode()).hexdigest()[:20]


Unit = Case | SliceRef  # what one cache row holds: an image case, or one slice of a study


def units_of(cases: Sequence[Case], keys: Sequence[str]) -> tuple[list[str], list[Unit]]:
    """The rows the cases (whose keys are `keys`) need, each once: an image case's, or each slice of a study."""
    units: dict[str, Unit] = {}
    for case, key in zip(cases, keys, strict=True):
        if case.volume is None:
            units.setdefault(key, case)
        else:
            for ref in case.volume.slices:
                units.setdefault(slice_key(ref), ref)
    return list(units), list(units.values())


def dataset_fingerprint(info: DatasetInfo, keys: Sequence[str] | None = None) -> str:
    """A hash of what the cases are (each case's key) and the classes: a resumed task refuses a changed dataset."""
    h = hashlib.sha256()
    for key in keys if keys is not None else map(case_key, info.usable):
        h.update(key.encode())
    h.update(json.dumps(info.classes).encode())
    return h.hexdigest()[:16]
