"""Write synthetic images as real DICOM files, with the headers a scanner would set."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Series:
    """Identifiers shared by the slices of one study (one patient, one series)."""

    patient_id: str
    modality: str
    body_part: str
    description: str
    windows: list[tuple[float, float]]
    window_names: list[str]
    study_uid: str = field(default_factory=lambda: _uid())
    series_uid: str = field(default_factory=lambda: _uid())


def _uid() -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid())


def write_slice(
    path: Path,
    values: np.ndarray,
    series: Series,
    instance: int,
    intercept: float = -1024.0,
    invert: bool = False,
    position: float | None = None,
    thickness: float = 5.0,
) -> None:
    """Store modality values (HU for CT) as 12-bit unsigned pixels with a rescale intercept.

    `invert` stores the image as MONOCHROME1 (bright means low value), as many CR systems do.
    `position` (mm from the feet up) places an axial slice of a volume, as a scanner's header does.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ComputedRadiographyImageStorage, CTImageStorage, ExplicitVRLittleEndian, generate_uid

    stored = np.clip(np.round(values - intercept), 0, 4095).astype(np.uint16)
    photometric = "MONOCHROME2"
    if invert:
        stored = (4095 - stored).astype(np.uint16)
        photometric = "MONOCHROME1"
    sop_class = CTImageStorage if series.modality == "CT" else ComputedRadiographyImageStorage

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.PatientName = series.patient_id, f"DEMO^{series.patient_id}"
    ds.PatientBirthDate, ds.PatientSex = "19700101", ""  # type 2: present, and empty where unknown
    ds.AccessionNumber = series.patient_id.replace("-", "")[:16]
    ds.StudyID, ds.StudyDate, ds.StudyTime, ds.ReferringPhysicianName = "1", "20260101", "080000", ""
    ds.Manufacturer = "deepq_widgets demo"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = series.study_uid, series.series_uid
    ds.StudyDescription = ds.SeriesDescription = series.description
    ds.Modality, ds.BodyPartExamined = series.modality, series.body_part
    ds.InstanceNumber = instance
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope = intercept, 1
    ds.RescaleType = "HU" if series.modality == "CT" else "US"
    ds.WindowCenter = [c for c, _ in series.windows]
    ds.WindowWidth = [w for _, w in series.windows]
    ds.WindowCenterWidthExplanation = series.window_names
    ds.PixelSpacing = [0.7, 0.7]
    if position is not None:
        rows, cols = stored.shape
        ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[series.study_uid, "frame of reference"])
        ds.SeriesNumber = 2
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-0.35 * cols, -0.35 * rows, round(position, 3)]
        ds.SliceLocation, ds.SliceThickness = round(position, 3), thickness
    ds.PixelData = stored.tobytes()
    ds.save_as(path, enforce_file_format=True)
