"""The demo workspace: synthetic but modality-like datasets, seeded and quick to make.

Three DICOM datasets match the specialised presets (head CT series for hemorrhage, labelled per
study and per slice; chest X-ray for pneumothorax; CT angiography series for pulmonary embolism,
labelled per study); a head CT set of single slices labelled by hemorrhage type serves multi-label
on DICOM in the General flow; two segment volumes (NIfTI label maps, DICOM SEG:
volume_segmentation.py); five PNG datasets cover every
task type and annotation layout of the General flow, and one (measured.py) a number per image for
regression; two more (hard.py) are hard enough that a short run lands between 0.7 and 0.9, and the
first of them has a test set of new cases to evaluate on.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ...workspace import WorkspacePaths
from . import chest_ct, chest_xray, general, hard, head_ct, measured, volume_segmentation

DEMO_DATASETS: dict[str, Callable[[Path, np.random.Generator], None]] = {
    "head_ct_hemorrhage": head_ct.generate,
    "chest_xray_pneumothorax": chest_xray.generate,
    "chest_cta_embolism": chest_ct.generate,
    "ultrasound_lesions": general.ultrasound_lesions,
    "fundus_findings": general.fundus_findings,
    "lung_nodules": general.lung_nodules,
    "polyps_coco": general.polyps_coco,
    "abdomen_organs": general.abdomen_organs,
    "thyroid_nodules": hard.thyroid_nodules,
    "liver_lesions": hard.liver_lesions,
    "nodule_diameters": measured.nodule_diameters,
    "head_ct_studies": head_ct.generate_studies,
    "liver_ct_nifti": volume_segmentation.liver_ct_nifti,
    "lung_nodules_seg": volume_segmentation.lung_nodules_seg,
    "thyroid_nodules_test": hard.thyroid_nodules_test,  # last: each dataset's seed is its place in this list
}


def create_demo(workspace: WorkspacePaths, seed: int = 0, force: bool = False, only: list[str] | None = None) -> dict[str, float]:
    """Write the demo datasets that are missing (all of them with `force`); seconds per dataset."""
    timings = {}
    for index, (name, make) in enumerate(DEMO_DATASETS.items()):
        if only and name not in only:
            continue
        folder = workspace.datasets / name
        if folder.exists() and not force:
            continue
        start = time.perf_counter()
        staging = workspace.datasets / f".{name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        make(staging, np.random.default_rng([seed, index]))
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)  # a half-written dataset never shows up in the catalog
        timings[name] = time.perf_counter() - start
    return timings
