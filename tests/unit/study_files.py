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


def seg_of(series: Sequence[Path], path: Path, masks: dict[str, np.ndarray]) -> Path:
    """A DICOM SEG written by highdicom over a series: one binary segment per name, (slices, rows, columns) each,
    in the order of `series`; empty frames are omitted, as highdicom does by default."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    sources = [pydicom.dcmread(p) for p in series]
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=i + 1,
            segment_label=name,
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=codes.SCT.Neoplasm,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for i, name in enumerate(masks)
    ]
    pixels = np.stack(list(masks.values()), axis=-1).astype(bool)  # (slices, rows, columns, segments)
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=100,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="tests",
        manufacturer_model_name="tests",
        software_versions="1",
        device_serial_number="1",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path)
    return path


def rtstruct_of(series: Sequence[Path], path: Path, rois: dict[str, list[tuple[int, list[tuple[float, float]], str]]]) -> Path:
    """An RTSTRUCT written with pydicom over a series: per ROI name, contours as (slice index, [(column, row)
    pixel points], geometric type), turned into patient coordinates through each slice's header."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence as DicomSequence

    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in series]
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = "RTSTRUCT", headers[0].PatientID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = headers[0].StudyInstanceUID, generate_uid()
    ds.StructureSetLabel = "tests"
    ds.StructureSetROISequence, ds.ROIContourSequence = DicomSequence(), DicomSequence()
    for number, (name, contours) in enumerate(rois.items(), start=1):
        roi = Dataset()
        roi.ROINumber, roi.ROIName = number, name
        ds.StructureSetROISequence.append(roi)
        item = Dataset()
        item.ReferencedROINumber = number
        item.ContourSequence = DicomSequence()
        for index, points, kind in contours:
            h = headers[index]
            origin = np.asarray(h.ImagePositionPatient, float)
            row_dir, col_dir = np.asarray(h.ImageOrientationPatient, float).reshape(2, 3)
            dy, dx = (float(v) for v in h.PixelSpacing)
            contour = Dataset()
            contour.ContourGeometricType = kind
            world = [origin + c * dx * row_dir + r * dy * col_dir for c, r in points]
            contour.NumberOfContourPoints = len(world)
            contour.ContourData = [round(float(v), 4) for p in world for v in p]
            image = Dataset()
            image.ReferencedSOPInstanceUID = h.SOPInstanceUID
            contour.ContourImageSequence = DicomSequence([image])
            item.ContourSequence.append(contour)
        ds.ROIContourSequence.append(item)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
