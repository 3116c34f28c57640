"""Segmentation sets of volumes, stored the ways clinics and challenges store them.

- `liver_ct_nifti`: abdominal CT volumes as NIfTI (`images/case_000.nii.gz`) with NIfTI label maps of the
  same name in `masks/` (as the Medical Segmentation Decathlon and nnU-Net keep them): liver 1, lesion 2.
- `lung_nodules_seg`: chest CT series (`images/<study>/` of DICOM slices) with a DICOM SEG each
  (`masks/<study>.dcm`, written by highdicom, referencing its slices by SOPInstanceUID): the nodules.

Values are Hounsfield units; organs and nodules are ellipsoids that grow and shrink from slice to slice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dicom_writer import Series, write_slice
from .draw import Canvas, noise, smooth

SIZE, DEPTH, SPACING_MM = 96, 12, 5.0


def _ellipsoid_slice(c: Canvas, centre: tuple[float, float, float], radii: tuple[float, float, float], k: int) -> np.ndarray:
    """Slice k of an ellipsoid (centre and radii in voxels: x, y, slice)."""
    dz = (k - centre[2]) / radii[2]
    if abs(dz) >= 1:
        return np.zeros((c.size, c.size), bool)
    shrink = float(np.sqrt(1 - dz * dz))
    return c.ellipse(centre[0], centre[1], radii[0] * shrink, radii[1] * shrink)


def liver_ct_nifti(folder: Path, rng: np.random.Generator, count: int = 16) -> None:
    import nibabel as nib

    c = Canvas(SIZE)
    for name in ("images", "masks"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / "classes.txt").write_text("liver\nlesion\n")
    for i in range(count):
        liver = (36 + rng.normal(0, 2), 42 + rng.normal(0, 2), DEPTH / 2 + rng.normal(0, 0.5))
        liver_r = (rng.uniform(18, 24), rng.uniform(14, 18), rng.uniform(4, 5.5))
        lesion = (liver[0] + rng.uniform(-6, 6), liver[1] + rng.uniform(-5, 5), liver[2] + rng.uniform(-1.5, 1.5))
        lesion_r = (rng.uniform(3, 6),) * 2 + (rng.uniform(1.2, 2.2),)
        has_lesion = rng.random() < 0.75
        hu = np.full((DEPTH, SIZE, SIZE), -1000.0, np.float32)
        labels = np.zeros((DEPTH, SIZE, SIZE), np.uint8)
        for k in range(DEPTH):
            body = c.ellipse(48, 48, 44, 34)
            hu[k][body] = 40 + noise(rng, SIZE, 8)[body]
            organ = _ellipsoid_slice(c, liver, liver_r, k) & body
            hu[k][organ], labels[k][organ] = 100, 1
            if has_lesion:
                spot = _ellipsoid_slice(c, lesion, lesion_r, k) & organ
                hu[k][spot], labels[k][spot] = 45, 2  # hypodense in the portal venous phase
            hu[k][c.ellipse(48, 72, 6, 6)] = 700  # vertebra
            hu[k] = smooth(hu[k], 0.7) + noise(rng, SIZE, 6)
        # NIfTI keeps (x, y, z) in RAS: undo the display flips data/slice_pixels.nifti_slice applies
        to_nifti = lambda a: np.ascontiguousarray(np.transpose(a, (2, 1, 0))[::-1, ::-1, :])  # noqa: E731
        affine = np.diag([0.8, 0.8, SPACING_MM, 1.0])
        nib.save(nib.Nifti1Image(to_nifti(hu).astype(np.int16), affine), str(folder / "images" / f"case_{i:03d}.nii.gz"))
        nib.save(nib.Nifti1Image(to_nifti(labels), affine), str(folder / "masks" / f"case_{i:03d}.nii.gz"))


def lung_nodules_seg(folder: Path, rng: np.random.Generator, count: int = 16) -> None:
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    c = Canvas(SIZE)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        series = Series(f"LN-{i:04d}", "CT", "CHEST", "CT CHEST LOW DOSE", [(-600, 1500)], ["LUNG"])
        study = folder / "images" / series.patient_id
        study.mkdir(parents=True)
        nodules = [
            ((rng.uniform(22, 34) if side < 0 else rng.uniform(62, 74)), rng.uniform(34, 62), rng.uniform(2, DEPTH - 3))
            for side in rng.choice([-1, 1], size=int(rng.integers(1, 3)))
        ]
        sizes = [(r, r, r * 0.8 / SPACING_MM * 2.5) for r in rng.uniform(3, 6, size=len(nodules))]
        paths, masks = [], []
        for k in range(DEPTH):
            hu = np.full((SIZE, SIZE), -1000.0, np.float32)
            hu[c.ellipse(48, 48, 44, 34)] = 40
            lungs = c.ellipse(28, 46, 17, 24, 0.1) | c.ellipse(68, 46, 17, 24, -0.1)
            hu[lungs] = -850 + noise(rng, SIZE, 30, blur=1.5)[lungs]
            mask = np.zeros((SIZE, SIZE), bool)
            for centre, radii in zip(nodules, sizes, strict=True):
                mask |= _ellipsoid_slice(c, centre, radii, k) & lungs
            hu[mask] = 30
            path = study / f"IM{k:04d}.dcm"
            write_slice(path, smooth(hu, 0.6) + noise(rng, SIZE, 8), series, instance=k + 1, position=k * SPACING_MM)
            paths.append(path)
            masks.append(mask)
        seg = hd.seg.Segmentation(
            source_images=[pydicom.dcmread(p) for p in paths],
            pixel_array=np.stack(masks),
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=[
                hd.seg.SegmentDescription(
                    segment_number=1,
                    segment_label="nodule",
                    segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
                    segmented_property_type=codes.SCT.Nodule,
                    algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
                )
            ],
            series_instance_uid=hd.UID(),
            series_number=300,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer="deepq_widgets demo",
            manufacturer_model_name="synthetic reader",
            software_versions="1",
            device_serial_number="0",
        )
        seg.save_as(folder / "masks" / f"{series.patient_id}.dcm")
