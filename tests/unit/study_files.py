"""Studies written the way other tools write them: a real scanner's CT slice (pydicom's CT_small.dcm) copied
into series with pydicom, NIfTI volumes with nibabel. Never through our own demo writer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid


def ct_series(
    folder: Path,
    positions: Sequence[float],
    names: Sequence[str] | None = None,
    tilt: float = 0.0,
    series_uid: str | None = None,
    study_uid: str | None = None,
    patient: str = "P1",
    description: str = "AXIAL",
) -> list[Path]:
    """A CT series from the real CT_small.dcm: one slice per position (mm), each slice's pixels marked by its
    position so its order can be checked; `tilt` shifts each slice in y as a tilted gantry does."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid, study_uid = series_uid or generate_uid(), study_uid or generate_uid()
    paths = []
    for i, z in enumerate(positions):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.PatientID = series_uid, study_uid, patient
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SeriesDescription = description
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-80.0, -80.0 + z * np.tan(np.radians(tilt)), float(z)]
        ds.SliceLocation, ds.SliceThickness = float(z), 2.5
        ds.InstanceNumber = len(positions) - i  # against the anatomy: only positions order slices
        pixels = ds.pixel_array.copy()
        pixels[0, 0] = int(1000 + 10 * z)  # the slice's mark: raw value 1000 + 10 z
        ds.PixelData = pixels.tobytes()
        path = folder / (names[i] if names else f"{generate_uid()[-12:]}.dcm")
        ds.save_as(path)
        paths.append(path)
    return paths


def localizer(path: Path, like: Path) -> Path:
    """A scout image in the same series, in another orientation, as scanners store it."""
    ds = pydicom.dcmread(like)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    ds.save_as(path)
    return path


def dose_report(path: Path, like: Path) -> Path:
    """A radiation dose structured report beside the slices (an SR without pixels)."""
    ds = pydicom.dcmread(like, stop_before_pixels=True)
    ds.Modality = "SR"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    for keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "SamplesPerPixel"):
        if keyword in ds:
            delattr(ds, keyword)
    ds.save_as(path)
    return path


def nifti(path: Path, data: np.ndarray, zooms: tuple[float, float, float] = (0.8, 0.8, 3.0)) -> Path:
    """A NIfTI volume written by nibabel, RAS affine with the given voxel sizes."""
    import nibabel as nib

    affine = np.diag([*zooms, 1.0])
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path
