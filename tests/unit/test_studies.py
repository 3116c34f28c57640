"""Studies as cases: DICOM series (written by pydicom from a real CT), multi-frame DICOM (pydicom's enhanced
CT and MR), NIfTI (nibabel), and every bad input of a study named, never breaking the rest."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut

from deepq_widgets.data.catalog import scan_dataset
from deepq_widgets.data.layouts import read_layout
from deepq_widgets.data.slice_pixels import nifti_slice, slice_pixels
from deepq_widgets.data.splits import split_cases
from deepq_widgets.data.studies import nifti_volume, series_volumes, volumes_at
from deepq_widgets.data.windowing import NAMED_WINDOWS, apply_window
from deepq_widgets.workspace import WorkspacePaths
from tests.helpers import png, write_csv
from tests.unit.study_files import ct_series, dose_report, localizer, nifti


def read_series(folder):
    volumes, left_out = volumes_at(folder, sorted(p for p in folder.rglob("*") if p.is_file()))
    return volumes, left_out


def marks(volume) -> list[int]:
    """Each slice's raw mark (1000 + 10 z), in the order the study keeps its slices."""
    return [int(pydicom.dcmread(ref.path).pixel_array[0, 0]) for ref in volume.slices]


def test_a_series_is_sorted_by_position_not_file_name(tmp_path):
    zs = [10.0, 0.0, 25.0, 5.0, 20.0, 15.0]
    ct_series(tmp_path / "s", zs, names=[f"IM{i}.dcm" for i in range(6)])  # IM0 is the 10 mm slice
    (volume,), left_out = read_series(tmp_path / "s")
    assert not left_out and volume.problem is None and not volume.notes
    assert volume.positions == (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
    assert marks(volume) == [1000 + 10 * int(z) for z in sorted(zs)]
    assert volume.spacing[0] == pytest.approx(5.0) and volume.thickness == 2.5 and volume.depth == 6
    assert volume.meta["modality"] == "CT" and volume.meta["patient_id"] == "P1"


def test_a_slice_reads_through_the_modality_lut_and_the_window(tmp_path):
    """HU = stored x slope + intercept, then the named window, exactly as for a single DICOM file."""
    ct_series(tmp_path / "s", [0.0, 5.0])
    (volume,), _ = read_series(tmp_path / "s")
    ds = pydicom.dcmread(volume.slices[1].path)
    expected = apply_window(apply_modality_lut(ds.pixel_array, ds), NAMED_WINDOWS["lung"])
    got = slice_pixels(volume.slices[1], ["lung", "bone"]).pixels
    assert got.shape == (128, 128, 2)
    np.testing.assert_allclose(got[..., 0], expected, atol=1e-6)


def test_several_series_in_one_folder_are_split_and_named(tmp_path):
    study = pydicom.uid.generate_uid()
    ct_series(tmp_path / "s", [0, 5, 10], study_uid=study, description="SOFT TISSUE")
    ct_series(tmp_path / "s", [0, 2, 4, 6], study_uid=study, description="LUNG")
    volumes, _ = read_series(tmp_path / "s")
    assert sorted(v.name for v in volumes) == ["s/LUNG", "s/SOFT TISSUE"]
    assert sorted(v.depth for v in volumes) == [3, 4]
    assert all("holds 2 series" in v.notes[0] for v in volumes)


def test_gaps_duplicates_uneven_spacing_and_tilt_are_named_and_the_study_kept(tmp_path):
    ct_series(tmp_path / "gap", [0, 5, 10, 25, 30])
    ct_series(tmp_path / "dup", [0, 5, 5, 10])
    ct_series(tmp_path / "uneven", [0, 5, 9, 15, 20])
    ct_series(tmp_path / "tilt", [0, 5, 10, 15], tilt=15.0)
    found = {name: read_series(tmp_path / name)[0][0] for name in ("gap", "dup", "uneven", "tilt")}
    assert all(v.problem is None for v in found.values())
    assert "gap of 15.0 mm" in found["gap"].notes[0] and "about 2 slices missing" in found["gap"].notes[0]
    assert found["dup"].depth == 3 and "repeats the position" in found["dup"].notes[0]
    assert "uneven slice spacing: 4.00 to 6.00 mm" in found["uneven"].notes[0]
    assert "gantry tilt of 15.0°" in found["tilt"].notes[0]


def test_a_localizer_and_a_dose_report_are_left_out_of_the_series(tmp_path):
    paths = ct_series(tmp_path / "s", [0, 5, 10])
    localizer(tmp_path / "s" / "scout.dcm", paths[0])
    dose_report(tmp_path / "s" / "dose.dcm", paths[0])
    (volume,), left_out = read_series(tmp_path / "s")
    assert volume.depth == 3 and volume.problem is None
    assert any("dose.dcm is a structured report" in why for why in left_out)
    assert any("scout.dcm is a localizer" in note for note in volume.notes)


def test_a_series_of_one_slice_is_a_problem(tmp_path):
    ct_series(tmp_path / "s", [0])
    (volume,), _ = read_series(tmp_path / "s")
    assert "a series of one slice is not a volume" in volume.problem


def test_multiframe_dicom_from_pydicom_is_one_study():
    """pydicom's enhanced CT (per-frame plane positions) and enhanced MR (frames in file order)."""
    (volume,), _ = volumes_at(Path(get_testdata_file("eCT_Supplemental.dcm")), [])
    assert volume.format == "multi-frame DICOM" and volume.depth == 2 and volume.problem is None
    assert volume.positions[0] < volume.positions[1] and volume.thickness == 10.0
    assert volume.spacing[1] == pytest.approx(0.388672)
    mr = Path(get_testdata_file("emri_small.dcm"))
    (volume,), _ = volumes_at(mr, [])
    assert volume.depth == 10 and [r.frame for r in volume.slices] == list(range(10))
    frames = pydicom.dcmread(mr).pixel_array
    np.testing.assert_allclose(slice_pixels(volume.slices[3]).pixels.shape, (*frames.shape[1:], 1))


def test_nifti_from_nibabel_reads_axial_slices_as_a_radiologist_sees_them(tmp_path):
    data = np.zeros((20, 30, 8), np.int16)  # x (right), y (anterior), z (superior)
    data[18, 25, 3] = 1000  # right, anterior, slice 3
    path = nifti(tmp_path / "ct.nii.gz", data, zooms=(0.8, 0.7, 3.0))
    volume = nifti_volume(path)
    assert volume.problem is None and volume.depth == 8 and volume.format == "NIfTI"
    assert volume.spacing == pytest.approx((3.0, 0.7, 0.8)) and (volume.width, volume.height) == (20, 30)
    shown = nifti_slice(path, 3)
    assert shown.shape == (30, 20)
    row, col = np.unravel_index(shown.argmax(), shown.shape)
    assert row < 15 and col < 10  # anterior at the top, the patient's right on the left
    windowed = slice_pixels(volume.slices[3], ["bone"]).pixels
    assert windowed.shape == (30, 20, 1) and windowed[row, col, 0] == pytest.approx(
        float(apply_window(np.array([1000.0]), NAMED_WINDOWS["bone"])[0])
    )


def test_broken_and_4d_nifti_are_problems(tmp_path):
    four_d = nifti_volume(nifti(tmp_path / "fmri.nii", np.zeros((4, 4, 3, 5), np.float32)))
    assert "a 4D volume" in four_d.problem
    broken = tmp_path / "broken.nii"
    broken.write_bytes(b"\x00" * 100)
    assert "unreadable NIfTI header" in nifti_volume(broken).problem


def test_label_rows_naming_folders_label_studies_and_rows_inside_label_slices(tmp_path):
    root = tmp_path / "ds"
    for i in range(3):
        ct_series(root / f"pe{i}", [0, 5, 10, 15], patient=f"A{i}")
        ct_series(root / f"ok{i}", [0, 5, 10, 15], patient=f"B{i}")
    nifti(root / "vol.nii.gz", np.zeros((8, 8, 4), np.int16))
    first = sorted((root / "pe0").iterdir())[0].name
    rows = (
        [(f"pe{i}", "PE") for i in range(3)] + [(f"ok{i}", "normal") for i in range(3)] + [("vol.nii.gz", "normal"), (f"pe0/{first}", "PE")]
    )
    write_csv(root / "label.csv", ["path", "class"], rows)
    info = scan_dataset_at(root)
    assert info.annotation == "study_label" and info.volumes and len(info.cases) == 7
    assert {c.title for c in info.cases} >= {"pe0", "ok2", "vol.nii.gz"}
    pe0 = next(c for c in info.cases if c.title == "pe0")
    index = [r.path.name for r in pe0.volume.slices].index(first)
    assert pe0.labels == ("PE",) and pe0.volume.slice_labels == {index: ("PE",)}
    assert info.class_counts == {"PE": 3, "normal": 4}
    assert info.format == "dicom" and info.modalities == ["CT"]
    split = split_cases(info.usable, 30, seed=0)
    assert split.grouped_by == "patient"


def test_a_slice_column_labels_slices_by_their_number_in_patient_order(tmp_path):
    root = tmp_path / "ds"
    for i in range(3):
        ct_series(root / f"pe{i}", [0, 5, 10, 15], patient=f"A{i}")
        ct_series(root / f"ok{i}", [0, 5, 10, 15], patient=f"B{i}")
    rows = [(f"pe{i}", "PE", "") for i in range(3)] + [(f"ok{i}", "normal", "") for i in range(3)]
    rows += [("pe0", "PE", "2"), ("pe0", "normal", "1"), ("pe1", "PE", "9"), ("pe2", "PE", "two")]
    write_csv(root / "label.csv", ["path", "class", "slice"], rows)
    info = scan_dataset_at(root)
    assert info.annotation == "study_label" and len(info.cases) == 6 and info.class_counts == {"PE": 3, "normal": 3}
    by_title = {c.title: c for c in info.cases}
    assert by_title["pe0"].labels == ("PE",) and by_title["pe0"].volume.slice_labels == {1: ("PE",), 0: ("normal",)}
    said = [p.message for p in info.problems]
    assert "slice 9 of a study of 4 slices; its label is not used" in said
    assert any("slice 'two' of pe2 is not a slice number" in m for m in said)


def test_class_folders_of_series_folders_are_studies(tmp_path):
    root = tmp_path / "ds"
    for label in ("PE", "normal"):
        for i in range(3):
            ct_series(root / label / f"study{i}", [0, 5, 10], patient=f"{label}{i}")
    ann = read_layout(root)
    assert ann.annotation == "study_label" and len(ann.cases) == 6
    assert all(c.volume is not None and c.volume.depth == 3 for c in ann.cases)


def test_a_folder_of_pictures_is_not_a_study(tmp_path):
    """A label row naming a folder of PNGs keeps its old meaning: one case per picture."""
    root = tmp_path / "ds"
    for i in range(4):
        png(root / "a" / f"{i}.png")
        png(root / "b" / f"{i}.png")
    write_csv(root / "label.csv", ["path", "class"], [("a", "x"), ("b", "y")])
    ann = read_layout(root)
    assert ann.annotation == "single_label" and len(ann.cases) == 8 and all(c.volume is None for c in ann.cases)


def test_a_multi_label_row_naming_a_study_is_left_out_with_the_reason_and_its_slices_rows_are_kept(tmp_path):
    """Multi-label reads single images: a study's labels copied to all its slices would be mostly wrong."""
    root = tmp_path / "ds"
    ct_series(root / "s0", [0, 5, 10, 15], patient="A")
    nifti(root / "vol.nii.gz", np.zeros((8, 8, 4), np.int16))
    first = sorted((root / "s0").iterdir())[0].name
    rows = [("s0", "subdural", "1"), ("vol.nii.gz", "subdural", "1"), (f"s0/{first}", "subdural", "1"), (f"s0/{first}", "epidural", "0")]
    write_csv(root / "label.csv", ["path", "class", "value"], rows)
    ann = read_layout(root)
    assert ann.annotation == "multi_label" and [c.image.name for c in ann.cases] == [first]
    assert ann.cases[0].labels == ("subdural",)
    refused = [p.message for p in ann.problems if "is a study" in p.message]
    assert len(refused) == 2 and all("a multi-label task reads single images" in m and "left out" in m for m in refused)


def test_bad_studies_are_named_and_the_others_train(tmp_path):
    root = tmp_path / "ds"
    for i in range(3):
        ct_series(root / f"a{i}", [0, 5, 10], patient=f"A{i}")
        ct_series(root / f"b{i}", [0, 5, 10], patient=f"B{i}")
    ct_series(root / "single", [0])
    nifti(root / "fmri.nii", np.zeros((4, 4, 3, 5), np.float32))
    (root / "empty").mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), root / "empty" / "not_a_series.txt")
    rows = [(f"a{i}", "x") for i in range(3)] + [(f"b{i}", "y") for i in range(3)] + [("single", "x"), ("fmri.nii", "y")]
    write_csv(root / "label.csv", ["path", "class"], rows)
    info = scan_dataset_at(root)
    assert len(info.usable) == 6 and len(info.cases) == 8
    said = " ".join(str(p) for p in info.problems)
    assert "series of one slice" in said and "a 4D volume" in said


def test_series_volumes_reports_a_damaged_header(tmp_path):
    paths = ct_series(tmp_path / "s", [0, 5, 10])
    paths[1].write_bytes(b"DICM" * 10)
    volumes, left_out = series_volumes(tmp_path / "s", paths)
    assert volumes[0].depth == 2 and "damaged DICOM header" in left_out[0]


def scan_dataset_at(folder: Path):
    """The catalogue's view of a dataset folder, moved into a fresh workspace."""
    ws = WorkspacePaths(folder.parent / "ws")
    ws.datasets.mkdir(parents=True, exist_ok=True)
    shutil.move(str(folder), ws.datasets / folder.name)
    return scan_dataset(ws, folder.name)


def test_a_fifo_in_a_series_folder_is_never_opened(tmp_path):
    """A FIFO would block a reader forever: it is named and skipped, the series read."""
    import os

    root = tmp_path / "ds"
    for name in ("a0", "a1", "a2", "b0", "b1", "b2"):
        ct_series(root / name, [0, 5, 10], patient=name)
    os.mkfifo(root / "a0" / "pipe.dcm")
    write_csv(root / "label.csv", ["path", "class"], [(n, n[0]) for n in ("a0", "a1", "a2", "b0", "b1", "b2")])
    info = scan_dataset_at(root)
    assert len(info.usable) == 6 and info.cases[0].volume.depth == 3
    assert any("pipe.dcm" in str(p) and "not a regular file" in str(p) for p in info.problems)
