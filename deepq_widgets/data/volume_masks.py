"""Segmentation masks of volumes, in the formats clinics keep them: DICOM SEG, RTSTRUCT and NIfTI label maps.

A volume (a series folder or a NIfTI file) in a mask-folders dataset trains segmentation slice by slice:
each of its slices is a case, its mask that slice of the volume's label map. The label map is made once
per volume (`label_map`) from its mask file, matched to the images by what the format says:
- a **DICOM SEG** (read by highdicom) by the SOPInstanceUIDs its frames reference; frames of instances that
  are not in the series are named, and a SEG none of whose frames are in the series is a problem;
- an **RTSTRUCT** (read by pydicom) by each contour's referenced instance, else its position along the slice
  normal; each closed contour is rasterised on its slice in pixel coordinates (holes by even-odd filling);
  empty and open contours are named and left out;
- a **NIfTI label map** (read by nibabel) by geometry: the same shape as the images, its slices at the same
  positions along the patient axis; label values are class indices.

Class names come from `classes.txt` when the dataset has one, else from the masks (SEG segment labels,
RTSTRUCT ROI names); NIfTI label maps name none, so their values stand for classes.txt's (or "foreground").
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .slice_pixels import nifti_slice
from .studies import Volume, is_volume_file

SEG, RTSTRUCT, NIFTI_LABELS = "DICOM SEG", "RTSTRUCT", "NIfTI label map"
POSITION_TOLERANCE = 0.5  # of the slice spacing: a contour or label slice this close to a slice lies on it


@dataclass
class VolumeMask:
    """A volume's mask file, from its header: its format, the names it gives its labels, what is wrong with it."""

    path: Path
    format: str
    names: list[str] = field(default_factory=list)  # per label value 1..n (SEG segment, RTSTRUCT ROI); empty for NIfTI
    notes: list[str] = field(default_factory=list)
    problem: str | None = None


def mask_stem(path: Path) -> str:
    """The name a mask and its images share: a folder's or file's name without .dcm, .nii or .nii.gz."""
    name = path.name
    for suffix in (".nii.gz", ".nii", ".dcm"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_volume_mask(path: Path) -> VolumeMask:
    """What a mask file is: a NIfTI label map, or a DICOM SEG or RTSTRUCT (told apart by their Modality)."""
    if is_volume_file(path):
        return VolumeMask(path, NIFTI_LABELS)
    try:
        ds = _read_dicom(path, stop_before_pixels=True)
    except Exception as exc:  # pydicom raises many types for damaged files
        return VolumeMask(path, "", problem=f"unreadable mask file ({type(exc).__name__})")
    modality = str(ds.get("Modality", ""))
    if modality == "SEG":
        names = [str(s.get("SegmentLabel", f"segment {s.SegmentNumber}")) for s in ds.get("SegmentSequence", [])]
        return VolumeMask(path, SEG, names=names)
    if modality == "RTSTRUCT":
        names = [str(r.get("ROIName", f"ROI {r.ROINumber}")) for r in ds.get("StructureSetROISequence", [])]
        return VolumeMask(path, RTSTRUCT, names=names, problem=None if names else "a structure set without ROIs")
    return VolumeMask(path, "", problem=f"a DICOM {modality or 'object'} is not a mask (a SEG or an RTSTRUCT is)")


def _read_dicom(path: Path, **options):
    """A DICOM file, also one written without its 128-byte preamble and file meta (as some planning systems do)."""
    import pydicom

    try:
        return pydicom.dcmread(path, **options)
    except pydicom.errors.InvalidDicomError:
        ds = pydicom.dcmread(path, force=True, **options)
        if "Modality" not in ds:
            raise
        return ds


def label_map(volume: Volume, mask: VolumeMask, classes: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """(depth, rows, columns) class indices of the volume's slices (0: background), and what was left out.
    Raises ValueError when the mask cannot belong to these images."""
    if mask.problem:
        raise ValueError(mask.problem)
    if mask.format == NIFTI_LABELS:
        return _nifti_labels(volume, mask, classes), []
    if volume.format != "DICOM series":
        raise ValueError(f"a {mask.format} references DICOM instances: its images must be the DICOM series, not a {volume.format}")
    index = {name.lower(): i + 1 for i, name in enumerate(classes)}
    if mask.format == SEG:
        return _seg_labels(volume, mask, index)
    return _rtstruct_labels(volume, mask, index)


_MADE: OrderedDict[tuple, np.ndarray] = OrderedDict()  # a decoding process reads a volume's slices one after another
KEPT_MAPS = 4


def slice_mask(volume: Volume, index: int, mask_path: Path, classes: Sequence[str]) -> np.ndarray:
    """Slice `index`'s class-index mask (rows, columns), from its volume's label map (made once per volume)."""
    key = (str(volume.source), volume.series, str(mask_path), mask_path.stat().st_mtime_ns, tuple(classes))
    if key not in _MADE:
        _MADE[key] = label_map(volume, read_volume_mask(mask_path), classes)[0]
        while len(_MADE) > KEPT_MAPS:
            _MADE.popitem(last=False)
    return _MADE[key][index]


# -- the three formats ---------------------------------------------------------------------------------
def _headers(volume: Volume) -> list:
    import pydicom

    keep = ["SOPInstanceUID", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"]
    return [pydicom.dcmread(ref.path, stop_before_pixels=True, specific_tags=keep) for ref in volume.slices]


def _seg_labels(volume: Volume, mask: VolumeMask, index: dict[str, int]) -> tuple[np.ndarray, list[str]]:
    import highdicom as hd

    seg = hd.seg.segread(mask.path)
    if (int(seg.Rows), int(seg.Columns)) != (volume.height, volume.width):
        raise ValueError(f"the SEG is {seg.Columns}x{seg.Rows} pixels, its images {volume.width}x{volume.height}: the geometry disagrees")
    uids = [str(h.SOPInstanceUID) for h in _headers(volume)]
    referenced = {str(sop) for _, _, sop in seg.get_source_image_uids()}
    absent = referenced - set(uids)
    if referenced and absent == referenced:
        raise ValueError(f"the SEG's frames reference {len(referenced)} instances, none of them in this series")
    notes = [f"the SEG references {len(absent)} instances that are not in the series; their frames are left out"] if absent else []
    labels = np.zeros((volume.depth, volume.height, volume.width), np.uint8)
    present = [u for u in uids if u in referenced]
    for number, name in enumerate(mask.names, start=1):
        value = index.get(name.lower())
        if value is None:
            notes.append(f"segment {name!r} is not one of the classes; left out")
            continue
        frames = seg.get_pixels_by_source_instance(present, segment_numbers=[number], combine_segments=True, skip_overlap_checks=True)
        for uid, frame in zip(present, frames, strict=True):
            labels[uids.index(uid)][frame > 0] = value
    return labels, notes


def _rtstruct_labels(volume: Volume, mask: VolumeMask, index: dict[str, int]) -> tuple[np.ndarray, list[str]]:
    from PIL import Image, ImageDraw

    ds = _read_dicom(mask.path)
    headers = _headers(volume)
    by_uid = {str(h.SOPInstanceUID): k for k, h in enumerate(headers)}
    names = {int(r.ROINumber): str(r.get("ROIName", f"ROI {r.ROINumber}")) for r in ds.get("StructureSetROISequence", [])}
    labels = np.zeros((volume.depth, volume.height, volume.width), np.uint8)
    notes: list[str] = []
    drawn = 0
    for roi in ds.get("ROIContourSequence", []):
        name = names.get(int(roi.ReferencedROINumber), f"ROI {roi.ReferencedROINumber}")
        value = index.get(name.lower())
        if value is None:
            notes.append(f"ROI {name!r} is not one of the classes; left out")
            continue
        planes: dict[int, Image.Image] = {}
        for contour in roi.get("ContourSequence", []):
            points = np.asarray(contour.get("ContourData", []), np.float64).reshape(-1, 3)
            kind = str(contour.get("ContourGeometricType", "CLOSED_PLANAR"))
            if kind != "CLOSED_PLANAR":
                notes.append(f"ROI {name!r} has an {kind.lower().replace('_', ' ')} contour: only closed contours enclose; left out")
                continue
            if len(points) < 3:
                notes.append(f"ROI {name!r} has an empty contour (fewer than 3 points); left out")
                continue
            k = _contour_slice(contour, points, volume, headers, by_uid)
            if k is None:
                notes.append(f"a contour of ROI {name!r} lies on no slice of the series; left out")
                continue
            plane = planes.setdefault(k, Image.new("1", (volume.width, volume.height), 0))
            outline = Image.new("1", plane.size, 0)
            ImageDraw.Draw(outline).polygon([tuple(p) for p in _to_pixels(points, headers[k])], fill=1, outline=1)
            plane.paste(Image.fromarray(np.asarray(plane) ^ np.asarray(outline)))  # even-odd: a contour inside another is a hole
        for k, plane in planes.items():
            labels[k][np.asarray(plane)] = value
            drawn += 1
    if not drawn:
        raise ValueError("no closed contour of a class lies on a slice of this series" + (f" ({notes[0]})" if notes else ""))
    return labels, notes


def _contour_slice(contour, points: np.ndarray, volume: Volume, headers: list, by_uid: dict[str, int]) -> int | None:
    """The slice a contour is drawn on: the instance it references, else the one at its position along the normal."""
    for item in contour.get("ContourImageSequence", []):
        k = by_uid.get(str(item.get("ReferencedSOPInstanceUID", "")))
        if k is not None:
            return k
    row, col = np.asarray(headers[0].ImageOrientationPatient, np.float64).reshape(2, 3)
    where = float(np.mean(points @ np.cross(row, col)))
    step = volume.spacing[0] if volume.spacing else 1.0
    nearest = int(np.argmin(np.abs(np.asarray(volume.positions) - where)))
    return nearest if abs(volume.positions[nearest] - where) <= POSITION_TOLERANCE * step else None


def _to_pixels(points: np.ndarray, header) -> np.ndarray:
    """Patient coordinates (mm) -> (column, row) pixel coordinates on the slice whose header is given."""
    origin = np.asarray(header.ImagePositionPatient, np.float64)
    row_dir, col_dir = np.asarray(header.ImageOrientationPatient, np.float64).reshape(2, 3)
    spacing_rows, spacing_cols = (float(v) for v in header.PixelSpacing)
    offset = points - origin
    return np.stack([offset @ row_dir / spacing_cols, offset @ col_dir / spacing_rows], axis=1)


def _nifti_labels(volume: Volume, mask: VolumeMask, classes: Sequence[str]) -> np.ndarray:
    import nibabel as nib

    img = nib.as_closest_canonical(nib.load(str(mask.path)))
    shape = tuple(int(n) for n in img.shape[:3])
    if len(img.shape) > 3 and int(np.prod(img.shape[3:])) > 1:
        raise ValueError(f"a label map of shape {tuple(img.shape)}: one 3D map is expected")
    if shape != (volume.width, volume.height, volume.depth):
        raise ValueError(
            f"the label map is {shape[0]}x{shape[1]}x{shape[2]} voxels, its images "
            f"{volume.width}x{volume.height}x{volume.depth}: the geometry disagrees"
        )
    positions = float(img.affine[2, 3]) + np.arange(shape[2]) * float(img.header.get_zooms()[2])
    step = volume.spacing[0] if volume.spacing else 1.0
    if volume.positions and np.abs(positions - np.asarray(volume.positions)).max() > POSITION_TOLERANCE * step:
        raise ValueError("the label map's slices are not where its images' are along the patient axis: the geometry disagrees")
    labels = np.stack([nifti_slice(mask.path, k) for k in range(shape[2])])
    if labels.min() < 0 or labels.max() > len(classes) or not np.allclose(labels, np.round(labels)):
        raise ValueError(f"label value {labels.max():g} has no class (classes: {len(classes)})")
    return labels.astype(np.uint8)
