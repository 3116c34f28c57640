"""A study as one case: the slices of a DICOM series, a multi-frame DICOM or a NIfTI volume, in patient order.

CT and MR come as studies: hundreds of slices, one label. Here a study is read from its headers
only (nothing is decoded): its slices sorted by position along the slice normal
(ImagePositionPatient projected on row × column direction, never by file name), its spacing,
thickness and orientation kept, and what is wrong with it named. A fault that leaves the volume
usable (a gap, a duplicated position, uneven spacing, gantry tilt, a localizer or a dose report
inside the series) is a note of the study; one that does not (one slice, slices of different sizes,
a 4D or broken NIfTI) is its problem, and the study stays listed but unused.

Reading a slice's pixels is slice_pixels.py's.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .limits import size_problem
from .readers import ReaderError, dicom_meta, sniff_format

NIFTI_SUFFIXES = (".nii", ".nii.gz")
VOLUME_MODALITIES = {"CT", "MR", "PT", "NM"}  # a multi-frame file of these is a volume, not a cine loop
NOT_SLICES = {
    "SR": "a structured report (a dose report?)",
    "RTSTRUCT": "a structure set",
    "SEG": "a segmentation",
    "PR": "a presentation state",
}
GAP_FACTOR = 1.5  # a step this many times the usual spacing means slices are missing
UNEVEN = 0.1  # spacing that varies by more than this fraction is named
TILT_DEGREES = 0.5
SAME_POSITION_MM = 1e-3


@dataclass(frozen=True)
class SliceRef:
    """One slice: a file, and the frame in it (a multi-frame DICOM's or a NIfTI volume's slice index)."""

    path: Path
    frame: int = 0


@dataclass
class Volume:
    """A study's slices in patient order and its geometry, from headers."""

    source: Path  # the series folder, the multi-frame file or the NIfTI file
    format: str  # "DICOM series", "multi-frame DICOM", "NIfTI"
    slices: tuple[SliceRef, ...] = ()
    positions: tuple[float, ...] = ()  # mm along the slice normal, increasing
    spacing: tuple[float, float, float] | None = None  # between slices, between rows, between columns (mm)
    thickness: float | None = None
    series: str = ""  # SeriesInstanceUID, or the file name
    name: str = ""  # how the study is shown: the folder, and the series when a folder holds several
    width: int = 0
    height: int = 0
    meta: dict[str, Any] = field(default_factory=dict)  # the first slice's DICOM metadata (modality, study, patient)
    notes: list[str] = field(default_factory=list)  # faults that leave it usable
    problem: str | None = None  # why it cannot be used
    slice_labels: dict[int, tuple[str, ...]] = field(default_factory=dict)  # slice index -> labels, where slices are labelled

    @property
    def depth(self) -> int:
        return len(self.slices)


def is_volume_file(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def named_slice(name: str | Path) -> SliceRef | None:
    """The slice that 'scan.nii.gz#3' names (how `Case.shown` names the third slice, in patient order, of a volume
    in one file: NIfTI or multi-frame DICOM), or None when `name` is not such a name."""
    volume, _, number = str(name).rpartition("#")
    if not (volume and number.isdigit()) or Path(name).exists() or not Path(volume).is_file():
        return None
    read = next(iter(volumes_at(Path(volume), [])[0]), None)
    slices = read.slices if read is not None and read.problem is None else ()
    if not 1 <= int(number) <= len(slices):
        raise ReaderError(f"{name}: {read.problem if read is not None and read.problem else f'no slice {number} in it'}")
    return slices[int(number) - 1]


# -- DICOM series ------------------------------------------------------------------------------------
@dataclass
class _Header:
    path: Path
    ds: Any

    def get(self, key: str, default: Any = None) -> Any:
        return self.ds.get(key, default)


def series_volumes(folder: Path, files: Sequence[Path]) -> tuple[list[Volume], list[str]]:
    """The volumes of the DICOM files in one folder: one per series (split by SeriesInstanceUID), and
    what was left out of any series (unreadable headers, objects that are not slices)."""
    import pydicom

    headers, left_out = [], []
    for path in files:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception as exc:  # pydicom raises many types for damaged headers
            left_out.append(f"{path.name}: damaged DICOM header ({type(exc).__name__}); left out")
            continue
        modality = str(ds.get("Modality", ""))
        if modality in NOT_SLICES or not ds.get("Rows"):
            what = NOT_SLICES.get(modality, "not an image")
            left_out.append(f"{path.name} is {what}, not a slice; left out of the series")
            continue
        headers.append(_Header(path, ds))
    by_series: dict[str, list[_Header]] = defaultdict(list)
    for h in headers:
        by_series[str(h.get("SeriesInstanceUID", "") or "")].append(h)
    several = len(by_series) > 1
    volumes = [_series_volume(folder, uid, members, several) for uid, members in sorted(by_series.items(), key=_series_order)]
    if several:
        names = ", ".join(v.name.rsplit("/", 1)[-1] for v in volumes)
        for v in volumes:
            v.notes.append(f"the folder holds {len(volumes)} series ({names}): each is its own study case")
    return volumes, left_out


def _series_order(item: tuple[str, list[_Header]]) -> tuple:
    uid, members = item
    number = members[0].get("SeriesNumber")
    return (int(number) if str(number or "").lstrip("-").isdigit() else 1 << 30, uid)


def _series_volume(folder: Path, uid: str, members: list[_Header], several: bool) -> Volume:
    first = members[0]
    if len(members) == 1 and int(first.get("NumberOfFrames", 1) or 1) > 1:
        volume = multiframe_volume(first.path, first.ds)
    else:
        volume = Volume(folder, "DICOM series", series=uid, meta=dicom_meta(first.ds))
        _order_slices(volume, members)
    label = str(first.get("SeriesDescription", "") or "").strip() or f"series {first.get('SeriesNumber', '') or uid[-8:]}"
    volume.name = f"{folder.name}/{label}" if several else folder.name
    return volume


def _order_slices(volume: Volume, members: list[_Header]) -> None:
    """Slices sorted along the normal; localizers, other orientations and duplicated positions left out, named."""
    kept = []
    for h in members:
        if "LOCALIZER" in [str(t).upper() for t in (h.get("ImageType") or [])]:
            volume.notes.append(f"{h.path.name} is a localizer; left out of the series")
        else:
            kept.append(h)
    orientations = Counter(_orientation(h) for h in kept)
    main = orientations.most_common(1)[0][0] if orientations else None
    for h in [h for h in kept if _orientation(h) != main]:
        volume.notes.append(f"{h.path.name} lies in another orientation than the series (a localizer?); left out")
    kept = [h for h in kept if _orientation(h) == main]
    if not kept:
        volume.problem = "no image slices in the series"
        return
    sizes = {(int(h.get("Rows", 0)), int(h.get("Columns", 0))) for h in kept}
    if len(sizes) > 1:
        volume.problem = f"slices of different sizes in one series: {sorted(sizes)}"
        return
    volume.height, volume.width = sizes.pop()
    normal = _normal(main)
    if normal is not None and all(h.get("ImagePositionPatient") for h in kept):
        place = {id(h): float(np.dot([float(v) for v in h.get("ImagePositionPatient")], normal)) for h in kept}
    elif all(h.get("SliceLocation") is not None for h in kept):
        place = {id(h): float(h.get("SliceLocation")) for h in kept}
        volume.notes.append("no ImagePositionPatient: slices ordered by SliceLocation")
    else:
        place = {id(h): float(h.get("InstanceNumber") or 0) for h in kept}
        volume.notes.append("no slice positions in the headers: slices ordered by InstanceNumber (positions unknown)")
        normal = None
    kept.sort(key=lambda h: (place[id(h)], int(h.get("InstanceNumber") or 0), h.path.name))
    unique = [kept[0]]
    for h in kept[1:]:
        if abs(place[id(h)] - place[id(unique[-1])]) <= SAME_POSITION_MM and normal is not None:
            volume.notes.append(f"{h.path.name} repeats the position of {unique[-1].path.name} ({place[id(h)]:.1f} mm); left out")
        else:
            unique.append(h)
    volume.slices = tuple(SliceRef(h.path) for h in unique)
    volume.positions = tuple(place[id(h)] for h in unique)
    row_col = [float(v) for v in (unique[0].get("PixelSpacing") or [])] or [1.0, 1.0]
    volume.thickness = _float(unique[0].get("SliceThickness"))
    step = _check_spacing(volume) if normal is not None else None
    volume.spacing = (step or volume.thickness or 1.0, row_col[0], row_col[-1])
    if normal is not None:
        _check_tilt(volume, unique, normal)
    _one_slice(volume)
    volume.meta = dicom_meta(unique[0].ds)


def _orientation(h: _Header) -> tuple[float, ...] | None:
    iop = h.get("ImageOrientationPatient")
    return tuple(round(float(v), 3) for v in iop) if iop and len(iop) == 6 else None


def _normal(iop: tuple[float, ...] | None) -> np.ndarray | None:
    if iop is None:
        return None
    n = np.cross(iop[:3], iop[3:])
    length = float(np.linalg.norm(n))
    return n / length if length > 0.5 else None


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _check_spacing(volume: Volume) -> float | None:
    """The usual step between slices; gaps (missing slices) and uneven spacing become notes."""
    steps = np.diff(volume.positions)
    if steps.size == 0:
        return None
    usual = float(np.median(steps))
    gaps = [(i, s) for i, s in enumerate(steps) if s > GAP_FACTOR * usual]
    for i, s in gaps[:3]:
        missing = round(s / usual) - 1
        volume.notes.append(
            f"gap of {s:.1f} mm between slices at {volume.positions[i]:.1f} and {volume.positions[i + 1]:.1f} mm "
            f"(about {missing} slice{'s' * (missing != 1)} missing)"
        )
    regular = np.array([s for i, s in enumerate(steps) if all(i != g for g, _ in gaps)])
    if regular.size and (regular.max() - regular.min()) > UNEVEN * usual:
        volume.notes.append(f"uneven slice spacing: {regular.min():.2f} to {regular.max():.2f} mm")
    return usual


def _check_tilt(volume: Volume, headers: list[_Header], normal: np.ndarray) -> None:
    """Gantry tilt: the header says so, or the slices' positions do not run along their normal."""
    tilt = _float(headers[0].get("GantryDetectorTilt")) or 0.0
    if len(headers) > 1:
        run = np.subtract(
            [float(v) for v in headers[-1].get("ImagePositionPatient")], [float(v) for v in headers[0].get("ImagePositionPatient")]
        )
        length = float(np.linalg.norm(run))
        if length > 0:
            tilt = max(abs(tilt), float(np.degrees(np.arccos(min(1.0, abs(float(np.dot(run / length, normal))))))))
    if abs(tilt) > TILT_DEGREES:
        volume.notes.append(f"gantry tilt of {abs(tilt):.1f}°: each slice is shifted against the next (a slice model is unaffected)")


def _one_slice(volume: Volume) -> None:
    if volume.depth == 1 and volume.problem is None:
        volume.problem = "a series of one slice is not a volume: label the file as an image, or add its slices"


# -- multi-frame DICOM ---------------------------------------------------------------------------------
def multiframe_volume(path: Path, ds: Any) -> Volume:
    """An enhanced (multi-frame) CT or MR: its frames are its slices, placed by the per-frame plane positions."""
    meta = dicom_meta(ds)
    volume = Volume(path, "multi-frame DICOM", series=str(meta.get("series_uid") or path.name), name=path.name, meta=meta)
    volume.height, volume.width = meta["rows"], meta["columns"]
    frames = meta["frames"]
    too_big = size_problem(volume.width, volume.height, frames)
    if too_big:
        volume.problem = too_big
        return volume
    shared = (ds.get("SharedFunctionalGroupsSequence") or [None])[0]
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    iop = _first_attr(shared, "PlaneOrientationSequence", "ImageOrientationPatient") or ds.get("ImageOrientationPatient")
    normal = _normal(tuple(float(v) for v in iop)) if iop and len(iop) == 6 else None
    positions = [_first_attr(f, "PlanePositionSequence", "ImagePositionPatient") for f in per_frame]
    order = list(range(frames))
    if normal is not None and len(positions) == frames and all(positions):
        place = [float(np.dot([float(v) for v in p], normal)) for p in positions]
        order.sort(key=lambda k: place[k])
        volume.positions = tuple(place[k] for k in order)
        step = _check_spacing(volume)
    else:
        volume.positions = tuple(float(k) for k in order)
        volume.notes.append("no per-frame positions: frames kept in file order")
        step = None
    volume.slices = tuple(SliceRef(path, k) for k in order)
    spacing = _first_attr(shared, "PixelMeasuresSequence", "PixelSpacing") or ds.get("PixelSpacing") or [1.0, 1.0]
    volume.thickness = _float(_first_attr(shared, "PixelMeasuresSequence", "SliceThickness") or ds.get("SliceThickness"))
    volume.spacing = (step or volume.thickness or 1.0, float(spacing[0]), float(spacing[-1]))
    _one_slice(volume)
    return volume


def _first_attr(group: Any, sequence: str, attr: str) -> Any:
    items = group.get(sequence) if group is not None else None
    return items[0].get(attr) if items else None


def is_multiframe_volume(meta: dict[str, Any]) -> bool:
    """A DICOM whose frames are slices of a volume (enhanced CT/MR), from its probed metadata."""
    return int(meta.get("frames", 1) or 1) > 1 and meta.get("modality") in VOLUME_MODALITIES


# -- NIfTI ---------------------------------------------------------------------------------------------
def nifti_volume(path: Path) -> Volume:
    """A NIfTI volume from its header, reoriented to the closest canonical (RAS) axes: axial slices from the
    feet up, each shown as a radiologist reads it (anterior at the top, the patient's right on the left)."""
    volume = Volume(path, "NIfTI", series=path.name, name=path.name, meta={"format": "nifti", "modality": ""})
    try:
        import nibabel as nib

        img = nib.as_closest_canonical(nib.load(str(path)))
        shape = tuple(int(n) for n in img.shape)
        zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    except Exception as exc:  # nibabel raises many types for damaged headers
        volume.problem = f"unreadable NIfTI header ({type(exc).__name__}: {exc})"
        return volume
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        volume.problem = f"a {len(shape)}D volume of shape {shape}: a study is one 3D volume (split a 4D series into its volumes)"
        return volume
    volume.width, volume.height = shape[0], shape[1]
    too_big = size_problem(volume.width, volume.height, shape[2])
    if too_big or not all(z > 0 for z in zooms):
        volume.problem = too_big or f"voxel sizes {zooms} are not positive: a broken header"
        return volume
    origin = float(img.affine[2, 3])
    volume.slices = tuple(SliceRef(path, k) for k in range(shape[2]))
    volume.positions = tuple(origin + k * zooms[2] for k in range(shape[2]))
    volume.spacing = (zooms[2], zooms[1], zooms[0])
    volume.thickness = zooms[2]
    _one_slice(volume)
    return volume


def study_files(folder: Path) -> list[Path]:
    """The regular files under a study folder read outside a dataset's catalogue (a path given to predict): links
    and special files are left alone."""
    import os

    found = []
    for top, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [p for p in (Path(top) / n for n in names) if not p.is_symlink() and p.is_file()]
    return sorted(found)


def volumes_at(path: Path, files: Sequence[Path]) -> tuple[list[Volume], list[str]]:
    """The studies a label's path names: a folder (its DICOM `files` split into series, and each NIfTI in it),
    a NIfTI file, or a multi-frame DICOM; and what was left out. The caller keeps `path` inside its dataset."""
    if is_volume_file(path):
        return [nifti_volume(path)], []
    if path.is_dir():
        dicom = [f for f in files if not is_volume_file(f) and sniff_format(f) == "dicom"]
        volumes, left_out = series_volumes(path, dicom) if dicom else ([], [])
        volumes += [nifti_volume(f) for f in files if is_volume_file(f)]
        if not volumes:
            left_out.append("no DICOM slices or NIfTI volume in the folder")
        return volumes, left_out
    import pydicom

    try:
        return [multiframe_volume(path, pydicom.dcmread(path, stop_before_pixels=True))], []
    except Exception as exc:  # a damaged header is this study's problem
        return [Volume(path, "multi-frame DICOM", name=path.name, problem=f"damaged DICOM header ({type(exc).__name__})")], []
