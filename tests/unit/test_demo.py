"""The demo workspace: the datasets the presets and the General flow need, seeded."""

import numpy as np
import pydicom

from deepq_widgets import kinds
from deepq_widgets.data.catalog import scan_workspace
from deepq_widgets.data.demo import create_demo
from deepq_widgets.data.readers import file_window
from deepq_widgets.presets import load_presets
from deepq_widgets.workspace import WorkspacePaths


def test_every_task_type_and_preset_has_a_dataset(demo_ws):
    infos = {i.name: i for i in scan_workspace(demo_ws)}
    for task in kinds.names():
        assert any(i.fit(task)[0] for i in infos.values()), task
    for preset in load_presets().values():
        assert [n for n, i in infos.items() if preset.check_dataset(i) is None], preset.id
    layouts = {i.layout for i in infos.values()}
    assert layouts == {"class_folders", "label_csv", "coco", "mask_folders"}


def test_dicom_demos_look_like_their_modality(demo_ws):
    infos = {i.name: i for i in scan_workspace(demo_ws)}
    for name, modality, window in [
        ("head_ct_hemorrhage", "CT", 40),
        ("chest_xray_pneumothorax", "CR", 2048),
    ]:
        info = infos[name]
        assert info.format == "dicom" and info.modalities == [modality] and 100 <= len(info.usable) <= 200
        studies = {c.study for c in info.cases}
        assert len(studies) < len(info.cases) / 1.5, "several slices per study"
        ds = pydicom.dcmread(info.cases[0].image, stop_before_pixels=True)
        assert file_window(ds).center == window
        assert not info.problems or all(p.kind == "imbalance" for p in info.problems)
    head = infos["head_ct_hemorrhage"]
    assert head.classes == ["subarachnoid", "subdural", "epidural", "intraparenchymal", "intraventricular"]
    assert all(n >= 15 for n in head.class_counts.values())


def test_hounsfield_units_are_realistic(demo_ws):
    from deepq_widgets.data.readers import read_image

    info = next(i for i in scan_workspace(demo_ws) if i.name == "head_ct_hemorrhage")
    ds = pydicom.dcmread(info.cases[0].image)
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert hu.min() < -900 and hu.max() > 800  # air and skull
    brain = read_image(info.cases[0].image, windows=["brain"]).pixels
    assert 0.2 < float(np.median(brain[brain > 0.05])) < 0.8


def test_generation_is_seeded(tmp_path):
    a, b = WorkspacePaths(tmp_path / "a"), WorkspacePaths(tmp_path / "b")
    create_demo(a, only=["lung_nodules"])
    create_demo(b, only=["lung_nodules"])
    assert (a.datasets / "lung_nodules" / "label.csv").read_text() == (b.datasets / "lung_nodules" / "label.csv").read_text()
    assert create_demo(a, only=["lung_nodules"]) == {}  # existing datasets are kept


def test_the_embolism_demo_is_studies_labelled_per_study(demo_ws):
    """Series of 24 slices 5 mm apart, files named against the anatomy, one label row per study folder."""
    from deepq_widgets.data.catalog import scan_dataset

    info = scan_dataset(demo_ws, "chest_cta_embolism")
    assert info.annotation == "study_label" and info.volumes and len(info.usable) == 40
    assert info.class_counts == {"PE": 20, "normal": 20} and info.modalities == ["CT"]
    labels = (demo_ws.datasets / "chest_cta_embolism" / "label.csv").read_text().splitlines()
    assert len(labels) == 41 and labels[1].split(",")[0] == "PE-0000"  # a folder per row
    for case in info.usable[:3]:
        volume = case.volume
        assert volume.depth == 24 and not volume.notes and volume.spacing[0] == 5.0
        assert list(volume.positions) == [5.0 * k for k in range(24)]
        names = [ref.path.name for ref in volume.slices]
        assert names != sorted(names)  # only the positions order them


def test_the_hemorrhage_demo_is_series_labelled_per_study_and_per_slice(demo_ws):
    """Head CT series of 24 slices; every slice labelled, the bleeding ones contiguous, only in bleeding studies."""
    from deepq_widgets.data.catalog import scan_dataset

    info = scan_dataset(demo_ws, "head_ct_studies")
    assert info.annotation == "study_label" and info.volumes and len(info.usable) == 40 and not info.problems
    assert info.class_counts == {"hemorrhage": 20, "normal": 20}
    for case in info.usable[:4]:
        volume = case.volume
        assert volume.depth == 24 and len(volume.slice_labels) == 24 and list(volume.positions) == [5.0 * k for k in range(24)]
        bleeding = [i for i, labels in sorted(volume.slice_labels.items()) if labels == ("hemorrhage",)]
        if case.labels == ("hemorrhage",):
            assert 3 <= len(bleeding) <= 6 and bleeding == list(range(bleeding[0], bleeding[-1] + 1))
        else:
            assert not bleeding


def test_the_volume_segmentation_demos_read_as_slices_with_their_masks(demo_ws):
    """NIfTI label maps beside NIfTI volumes, and a highdicom SEG per DICOM series: every slice a case, its labels
    what its slice of the mask shows, the lesion inside the liver."""
    from deepq_widgets.data.catalog import scan_dataset
    from deepq_widgets.data.masks import case_mask

    liver = scan_dataset(demo_ws, "liver_ct_nifti")
    assert liver.layout == "mask_folders" and liver.format == "nifti" and liver.classes == ["liver", "lesion"]
    assert len(liver.usable) == len(liver.cases) == 16 * 12 and liver.class_counts["lesion"] > 0
    lesion = next(c for c in liver.cases if "lesion" in c.labels)
    mask = case_mask(lesion, liver.classes, lesion.width, lesion.height)
    inside = np.argwhere(mask == 2)
    assert len(inside) and all(
        mask[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2].min() >= 1 for y, x in inside if 0 < y < 95 and 0 < x < 95
    )

    nodules = scan_dataset(demo_ws, "lung_nodules_seg")
    assert nodules.format == "dicom" and nodules.classes == ["nodule"] and len(nodules.usable) == 16 * 12
    assert not [p for p in nodules.problems if p.kind != "imbalance"]
    assert len({c.patient for c in nodules.cases}) == 16  # a study's slices split together
