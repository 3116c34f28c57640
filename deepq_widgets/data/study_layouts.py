"""Studies in a dataset folder: label rows (or class folders) that name a series folder or a volume.

A row naming a folder or a NIfTI file labels the **study**: it becomes one case (several series in
one folder, several cases of that study), never one case per slice. A row naming a file inside a
labelled study labels that **slice**; the study keeps it as `Volume.slice_labels`. A file row that
belongs to no study has no place in a dataset of studies and is left out, named.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path

from .cases import Case, Problem
from .readers import sniff_format
from .studies import is_volume_file, volumes_at

STUDY = "study_label"  # the annotation type of a dataset of labelled studies

Files = Callable[[Path], list[Path]]  # every file under a folder, never leaving the dataset


SNIFFED = 32  # files looked at to tell a series folder from a folder of pictures


def names_study(path: Path) -> bool:
    """Whether a label's resolved path names a study: a volume file, or a folder of DICOM files or volumes
    (a folder of PNG or JPEG pictures is not a study)."""
    if is_volume_file(path):
        return True
    if not path.is_dir():
        return False
    walked = ((Path(top) / name for name in names) for top, _, names in os.walk(path, followlinks=False))
    return any(_volume_or_dicom(f) for f in itertools.islice(itertools.chain.from_iterable(walked), SNIFFED))


def _volume_or_dicom(path: Path) -> bool:
    """Only regular files are opened: a FIFO or a device would block or never end."""
    try:
        if path.is_symlink() or not path.is_file():
            return False
        return is_volume_file(path) or sniff_format(path) == "dicom"
    except OSError:
        return False


def study_cases(
    studies: dict[Path, tuple[str, ...]], slices: dict[Path, tuple[str, ...]], files: Files, source: str, problems: list[Problem]
) -> list[Case]:
    """One case per volume of each labelled study path; the slice rows become its slice labels."""
    cases = []
    for path, labels in studies.items():
        volumes, left_out = volumes_at(path, files(path) if path.is_dir() else [])
        problems.extend(Problem("study", why, str(path)) for why in left_out)
        for volume in volumes:
            case = Case(path, labels=labels, volume=volume, width=volume.width, height=volume.height, problem=volume.problem)
            if volume.problem:
                problems.append(Problem("study", volume.problem, volume.name))
            problems.extend(Problem("study", note, volume.name) for note in volume.notes)
            cases.append(case)
    _label_slices(cases, slices, source, problems)
    return cases


def _label_slices(cases: list[Case], slices: dict[Path, tuple[str, ...]], source: str, problems: list[Problem]) -> None:
    where = {ref.path: (case, i) for case in cases if case.volume for i, ref in enumerate(case.volume.slices)}
    for path, labels in slices.items():
        if path not in where:
            inside = any(path.is_relative_to(c.image) for c in cases if c.image.is_dir())
            why = "is not a slice of its study's series (left out of it?)" if inside else "is an image in a dataset of studies"
            problems.append(Problem("layout", f"{path.name} {why}; its label is not used", source))
            continue
        case, index = where[path]
        case.volume.slice_labels[index] = labels


def class_folder_studies(sub: Path, root: Path, files: Files, problems: list[Problem]) -> list[Case] | None:
    """The studies of a class folder that holds series folders or volumes (None when it holds images, or leads
    outside the dataset `root`: the image reader reports that). Links are never followed into a study."""
    if sub.is_symlink() or not sub.resolve().is_relative_to(root):
        return None
    inner = sorted(p for p in sub.iterdir() if not p.name.startswith(".") and not p.is_symlink() and names_study(p))
    if not inner:
        return None
    return study_cases(dict.fromkeys(inner, (sub.name,)), {}, files, str(sub), problems)
