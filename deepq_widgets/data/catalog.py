"""The dataset catalog: what each workspace dataset is, what it fits, and what is wrong with it.

Problems are reported, never silently dropped: a bad case stays listed with its reason and
is left out of training. Scanning reads headers only (see probe.py), so it stays fast.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import kinds
from ..spec import Modality
from ..workspace import WorkspacePaths
from .cases import Case, Problem
from .corrections import apply_corrections
from .dataset_files import printable
from .layouts import read_layout
from .masks import MaskError, load_mask
from .probe import probe

MIN_CASES_PER_CLASS = 3
DICOM_MODALITIES = {"CT": Modality.ct, "CR": Modality.xray, "DX": Modality.xray, "MR": Modality.mri, "OP": Modality.fundus}


def balance_grade(count: int, largest: int) -> str:
    """'well', 'mildly' or 'seriously' under-represented, relative to the largest class."""
    ratio = count / largest if largest else 0.0
    return "well" if ratio >= 0.5 else "mildly" if ratio >= 0.2 else "seriously"


@dataclass
class DatasetInfo:
    name: str
    path: Path
    layout: str
    annotation: str
    fits: list[str]
    classes: list[str]
    cases: list[Case]
    problems: list[Problem] = field(default_factory=list)
    format: str = ""
    channels: int = 0  # the most common channel count of the images (1 = grey-scale)
    modalities: list[str] = field(default_factory=list)
    class_counts: dict[str, int] = field(default_factory=dict)
    corrected: int = 0  # cases given the label of the dataset's label_corrections.csv (scan_dataset(corrected=True))

    @property
    def usable(self) -> list[Case]:
        return [c for c in self.cases if c.usable]

    @property
    def predictable(self) -> list[Case]:
        """The cases a model can be run on: the usable ones and those only missing a label."""
        return [c for c in self.cases if c.predictable]

    @property
    def imaged_modality(self) -> Modality:
        """The modality the DICOM headers name, when they all name one; else Other."""
        found = {DICOM_MODALITIES.get(code) for code in self.modalities} - {None}
        return found.pop() if len(found) == 1 else Modality.other

    @property
    def has_studies(self) -> bool:
        return any(c.study or c.patient for c in self.cases)

    @property
    def volumes(self) -> bool:
        """Whether its cases are studies (series or volumes), not images."""
        return any(c.volume is not None for c in self.cases)

    @property
    def balance(self) -> dict[str, str]:
        largest = max(self.class_counts.values(), default=0)
        return {name: balance_grade(n, largest) for name, n in self.class_counts.items()}

    def fit(self, task: str) -> tuple[bool, str]:
        """Whether this dataset can train a `task` and why not: the task kind decides."""
        reason = kinds.get(task).dataset_problem(self)
        return reason is None, reason or ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "annotation": self.annotation,
            "layout": self.layout,
            "fits": self.fits,
            "cases": len(self.usable),
            "cases_total": len(self.cases),
            "classes": self.classes,
            "class_counts": self.class_counts,
            "balance": self.balance,
            "format": self.format,
            "channels": self.channels,
            "modalities": self.modalities,
            "has_studies": self.has_studies,
            "studies": len({c.study for c in self.cases if c.study}),
            "volumes": self.volumes,
            "problems": [str(p) for p in self.problems],
        }


def scan_dataset(workspace: WorkspacePaths, name: str, corrected: bool = False) -> DatasetInfo:
    """Catalogue one dataset folder of the workspace, with the labels of its `label_corrections.csv` when
    `corrected`. A folder that is a symbolic link is not followed (it could lead anywhere): it is listed with that
    problem and no cases."""
    link = workspace.datasets / name
    if link.is_symlink():
        why = f"the dataset folder is a symbolic link (to {printable(os.readlink(link))}); not followed: move or bind-mount the data here"
        return DatasetInfo(name, link, "unreadable", "", [], [], [], [Problem("outside", why, printable(link))])
    folder = workspace.dataset_dir(name)
    ann = read_layout(folder)
    info = DatasetInfo(name, folder, ann.layout, ann.annotation, ann.fits, ann.classes, ann.cases, list(ann.problems))
    _probe_cases(info)
    if ann.layout == "mask_folders":
        _check_masks(info)
    if corrected:
        info.corrected = apply_corrections(info.usable, folder, info.classes)
    info.class_counts = _count_classes(info)
    info.problems.extend(_class_problems(info))
    return info


def scan_workspace(workspace: WorkspacePaths) -> list[DatasetInfo]:
    """Every dataset; one that cannot be scanned at all is listed with its error, never hiding the others."""
    return [scan_or_report(workspace, name) for name in workspace.dataset_names()]


def scan_or_report(workspace: WorkspacePaths, name: str) -> DatasetInfo:
    """scan_dataset, or the dataset listed with the error that stopped its scan."""
    try:
        return scan_dataset(workspace, name)
    except Exception as exc:  # a failure no check foresaw stays this dataset's problem
        why = f"cannot be catalogued: {type(exc).__name__}: {exc}"
        return DatasetInfo(name, workspace.datasets / name, "unreadable", "", [], [], [], [Problem("layout", why, name)])


def _probe_cases(info: DatasetInfo) -> None:
    formats: Counter[str] = Counter()
    channels: Counter[int] = Counter()
    modalities: set[str] = set()
    for case in info.cases:
        read_with = case.volume or (case.slice.volume if case.slice else None)
        if read_with is not None:  # a study, or a slice of a volume: its headers were read with its series
            meta = read_with.meta
            formats[meta.get("format") or read_with.format] += 1
            channels[int(meta.get("channels") or 1)] += 1
            case.study, case.patient = meta.get("study_uid"), meta.get("patient_id")
            modalities.update([meta["modality"]] if meta.get("modality") else [])
            continue
        p = probe(case.image)
        if p.format:
            formats[p.format] += 1
        if not p.ok:
            _fail(info, case, "missing_file" if p.problem == "missing file" else "unreadable", p.problem or "")
            continue
        case.width, case.height = p.width, p.height
        channels[p.channels] += 1
        case.study, case.patient = p.meta.get("study_uid"), p.meta.get("patient_id")
        if p.meta.get("modality"):
            modalities.add(p.meta["modality"])
        _check_boxes(info, case)
    info.format = formats.most_common(1)[0][0] if formats else ""
    info.channels = channels.most_common(1)[0][0] if channels else 0
    info.modalities = sorted(modalities)


def _fail(info: DatasetInfo, case: Case, kind: str, message: str, file: Path | None = None) -> None:
    case.problem = case.problem or message
    info.problems.append(Problem(kind, message, str(file or case.image)))


def _check_boxes(info: DatasetInfo, case: Case) -> None:
    """Boxes outside the image are clipped to it and reported; empty ones are dropped and reported."""
    if not case.boxes or all(b.inside(case.width, case.height) for b in case.boxes):
        return
    kept = []
    for box in case.boxes:
        if box.inside(case.width, case.height):
            kept.append(box)
            continue
        clipped = box.clipped(case.width, case.height)
        action = "clipped to the image" if clipped else "dropped (nothing left inside the image)"
        where = f"{box.label} box ({box.x:g}, {box.y:g}, {box.w:g}, {box.h:g})"
        info.problems.append(Problem("box", f"{where} lies outside the {case.width}x{case.height} image; {action}", str(case.image)))
        if clipped:
            kept.append(clipped)
    case.boxes = tuple(kept)


def _check_masks(info: DatasetInfo) -> None:
    for case in info.cases:
        if not case.usable or case.mask is None or case.slice is not None:  # a volume's mask was read with it
            continue
        p = probe(case.mask)
        if not p.ok:
            _fail(info, case, "unreadable", f"mask {p.problem}", case.mask)
            continue
        if (p.width, p.height) != (case.width, case.height):
            _fail(info, case, "mask", f"mask is {p.width}x{p.height} but the image is {case.width}x{case.height}", case.mask)
            continue
        try:
            values = np.unique(load_mask(case.mask, len(info.classes)))
        except MaskError as exc:
            _fail(info, case, "unknown_class", str(exc), case.mask)
            continue
        case.labels = tuple(info.classes[v - 1] for v in values if v > 0)


def _count_classes(info: DatasetInfo) -> dict[str, int]:
    counts = Counter({name: 0 for name in info.classes})
    for case in info.usable:
        counts.update(set(case.labels))
    return dict(counts)


def _class_problems(info: DatasetInfo) -> list[Problem]:
    out = []
    largest = max(info.class_counts.values(), default=0)
    for name, n in info.class_counts.items():
        if n < MIN_CASES_PER_CLASS:
            out.append(Problem("few_cases", f"class {name!r} has {n} case{'s' * (n != 1)} (at least {MIN_CASES_PER_CLASS} needed)"))
        grade = balance_grade(n, largest)
        if grade != "well":
            out.append(
                Problem("imbalance", f"class {name!r} is {grade} under-represented ({n} cases against {largest} in the largest class)")
            )
    return out
