"""Studies in a dataset folder: label rows (or class folders) that name a series folder or a volume.

A row naming a folder or a NIfTI file labels the **study**: it becomes one case (several series in
one folder, several cases of that study), never one case per slice. A row naming a file inside a
labelled study labels that **slice**; the study keeps it as `Volume.slice_labels`. A file row that
belongs to no study has no place in a dataset of studies and is left out, named.

In a mask-folders dataset, a volume in `images/` (a series folder or a NIfTI file) with its mask in
`masks/` under the same name (a DICOM SEG, an RTSTRUCT or a NIfTI label map: data/volume_masks.py)
trains segmentation slice by slice: every slice is a case, labelled by the classes its mask shows.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .cases import Case, Problem, VolumeSlice
from .readers import sniff_format
from .studies import Volume, is_volume_file, volumes_at
from .volume_masks import VolumeMask, label_map, mask_stem, read_volume_mask

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
    studies: dict[Path, tuple[str, ...]],
    slices: dict[Path, tuple[str, ...]],
    files: Files,
    source: str,
    problems: list[Problem],
    numbered: dict[tuple[Path, int], tuple[str, ...]] | None = None,
) -> list[Case]:
    """One case per volume of each labelled study path; the slice rows (a slice's file, or a study and a slice
    number in patient order: `numbered`) become its slice labels."""
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
    for (path, number), labels in (numbered or {}).items():
        named = [c for c in cases if c.image == path and c.volume is not None]
        for case in named:
            if number <= case.volume.depth:
                case.volume.slice_labels[number - 1] = labels
            else:
                why = f"slice {number} of a study of {case.volume.depth} slices; its label is not used"
                problems.append(Problem("layout", why, source))
        if not named:
            why = f"slice {number} of {path.name}, which is not a labelled study; its label is not used"
            problems.append(Problem("layout", why, source))
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


def volume_segmentation(
    images: Path, masks: dict[str, Path], declared: list[str] | None, files: Files, problems: list[Problem]
) -> tuple[list[Case], list[str], list[Path]]:
    """The slice cases of the volumes in `images` paired with their masks (taken out of `masks`, by name), the
    classes (classes.txt's, else the names the masks give, else "foreground"), and the volumes' paths. A folder of
    DICOM files is a volume only when a mask has its name: otherwise its files are images, each with its own mask."""
    entries = sorted(
        p
        for p in images.iterdir()
        if not p.name.startswith(".") and not p.is_symlink() and names_study(p) and (is_volume_file(p) or mask_stem(p) in masks)
    )
    pairs: list[tuple[Volume, VolumeMask | None]] = []
    for entry in entries:
        volumes, left_out = volumes_at(entry, files(entry) if entry.is_dir() else [])
        problems.extend(Problem("study", why, str(entry)) for why in left_out)
        found = masks.pop(mask_stem(entry), None)
        pairs += [(volume, read_volume_mask(found) if found else None) for volume in volumes]
    named = [name for _, mask in pairs if mask for name in mask.names]
    classes = declared or list(dict.fromkeys(named)) or ["foreground"]
    cases = [case for volume, mask in pairs for case in _slice_cases(volume, mask, classes, problems)]
    return cases, classes, entries


def _slice_cases(volume: Volume, mask: VolumeMask | None, classes: list[str], problems: list[Problem]) -> list[Case]:
    """A case per slice of the volume, labelled by the classes its slice of the label map shows; a volume that
    cannot be used (no slices, no mask, a mask that does not fit) keeps its cases, each with the reason."""
    if volume.problem or not volume.depth:
        problems.append(Problem("study", volume.problem or "no slices", volume.name))
        return [Case(volume.source, problem=volume.problem or "no slices")]
    why, labels = None, None
    if mask is None:
        why = "no mask with the same name in masks/ (a SEG, an RTSTRUCT or a NIfTI label map)"
    else:
        try:
            labels, notes = label_map(volume, mask, classes)
            problems.extend(Problem("mask", note, str(mask.path)) for note in notes)
        except (ValueError, OSError) as exc:  # a mask that cannot belong to these images: the volume's problem
            why = f"{mask.format or 'mask'} {mask.path.name}: {exc}"
    if why:
        problems.append(Problem("mask", why, volume.name))
    cases = []
    for k, ref in enumerate(volume.slices):
        shows = () if labels is None else tuple(classes[v - 1] for v in np.unique(labels[k]) if v > 0)
        case = Case(ref.path, labels=shows, mask=mask.path if mask else None, width=volume.width, height=volume.height, problem=why)
        case.slice = VolumeSlice(volume, k)
        cases.append(case)
    return cases
