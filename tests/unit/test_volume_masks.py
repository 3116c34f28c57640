"""Segmentation masks of volumes from clinical formats: DICOM SEG written by highdicom, RTSTRUCT written with
pydicom (and pydicom's bundled real one), NIfTI label maps written by nibabel; each matched to its images, and
each bad mask named on its volume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from deepq_widgets.data.cache import build_cache
from deepq_widgets.data.slice_pixels import nifti_slice
from deepq_widgets.data.studies import volumes_at
from deepq_widgets.data.volume_masks import NIFTI_LABELS, RTSTRUCT, SEG, label_map, read_volume_mask
from tests.unit.study_files import ct_series, nifti, rtstruct_of, seg_of
from tests.unit.test_studies import scan_dataset_at

POSITIONS = [0.0, 5.0, 10.0, 15.0, 20.0]


def series(folder):
    paths = ct_series(folder, POSITIONS)
    (volume,), _ = volumes_at(folder, sorted(folder.iterdir()))
    return paths, volume


def square(shape, top, left, size) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[top : top + size, left : left + size] = True
    return m


def test_a_highdicom_seg_is_placed_on_its_slices_by_instance_uid(tmp_path):
    paths, volume = series(tmp_path / "ct")
    shape = (volume.height, volume.width)
    tumour = np.stack([square(shape, 10, 10, 20) if k in (1, 2) else np.zeros(shape, bool) for k in range(5)])
    cyst = np.stack([square(shape, 60, 60, 8) if k == 3 else np.zeros(shape, bool) for k in range(5)])
    seg = seg_of(paths, tmp_path / "ct.seg.dcm", {"tumour": tumour, "cyst": cyst})  # in the order the files were written
    mask = read_volume_mask(seg)
    assert mask.format == SEG and mask.names == ["tumour", "cyst"]
    labels, notes = label_map(volume, mask, ["cyst", "tumour"])  # classes.txt may order them otherwise
    assert not notes and labels.shape == (5, volume.height, volume.width)
    by_file = {p: k for k, p in enumerate(paths)}
    for k, ref in enumerate(volume.slices):  # the volume is in patient order; the SEG followed the files
        written = by_file[ref.path]
        assert (labels[k] == 2).sum() == (400 if written in (1, 2) else 0)
        assert (labels[k] == 1).sum() == (64 if written == 3 else 0)


def test_a_seg_of_other_images_is_a_problem_and_one_missing_some_is_named(tmp_path):
    paths, volume = series(tmp_path / "ct")
    shape = (volume.height, volume.width)
    other, _ = series(tmp_path / "other")
    seg = seg_of(other, tmp_path / "other.seg.dcm", {"tumour": np.stack([square(shape, 5, 5, 5)] * 5)})
    with pytest.raises(ValueError, match="none of them in this series"):
        label_map(volume, read_volume_mask(seg), ["tumour"])
    seg = seg_of(paths, tmp_path / "ct.seg.dcm", {"tumour": np.stack([square(shape, 5, 5, 5)] * 5)})
    paths[0].unlink()
    (smaller,), _ = volumes_at(tmp_path / "ct", sorted((tmp_path / "ct").iterdir()))
    labels, notes = label_map(smaller, read_volume_mask(seg), ["tumour"])
    assert labels.shape[0] == 4 and (labels == 1).sum() == 4 * 25
    assert notes == ["the SEG references 1 instances that are not in the series; their frames are left out"]


def test_rtstruct_contours_fill_their_slices_with_holes_and_bad_contours_are_named(tmp_path):
    paths, volume = series(tmp_path / "ct")
    by_path = {ref.path: k for k, ref in enumerate(volume.slices)}
    box = [(10, 10), (30, 10), (30, 30), (10, 30)]
    inner = [(15, 15), (25, 15), (25, 25), (15, 25)]
    rois = {
        "liver": [(0, box, "CLOSED_PLANAR"), (1, box, "CLOSED_PLANAR"), (1, inner, "CLOSED_PLANAR")],
        "needle": [(2, [(5, 5), (50, 50)], "OPEN_PLANAR"), (2, [(5, 5), (6, 6)], "CLOSED_PLANAR")],
    }
    rt = rtstruct_of(paths, tmp_path / "rt.dcm", rois)
    mask = read_volume_mask(rt)
    assert mask.format == RTSTRUCT and mask.names == ["liver", "needle"]
    labels, notes = label_map(volume, mask, ["liver", "needle"])
    full, holed = labels[by_path[paths[0]]], labels[by_path[paths[1]]]
    assert 400 <= (full == 1).sum() <= 441  # a 20-pixel square, its outline included
    assert (holed == 1).sum() < (full == 1).sum() - 80 and holed[20, 20] == 0 and holed[12, 12] == 1  # the inner contour is a hole
    assert not (labels == 2).any()
    assert any("open planar contour" in n for n in notes) and any("empty contour" in n for n in notes)


def test_pydicom_s_real_rtstruct_reads_its_rois(tmp_path):
    """A planning system's file (without the DICOM preamble): its ROIs, and its contours on a series it references
    that is not here lie on no slice."""
    real = Path(get_testdata_file("rtstruct.dcm"))
    mask = read_volume_mask(real)
    assert mask.format == RTSTRUCT and mask.problem is None and len(mask.names) >= 1
    _, volume = series(tmp_path / "ct")
    with pytest.raises(ValueError, match="no closed contour of a class lies on a slice"):
        label_map(volume, mask, mask.names)


def test_a_nifti_label_map_is_read_as_its_image_is_and_must_share_its_geometry(tmp_path):
    image = np.zeros((40, 30, 6), np.float32)
    image[5:12, 20:26, 2:4] = 500.0  # a bright block, off centre, on slices 2 and 3
    labels = (image > 0).astype(np.uint8)
    img = nifti(tmp_path / "images" / "case.nii.gz", image)
    lab = nifti(tmp_path / "labels" / "case.nii.gz", labels)
    (volume,), _ = volumes_at(img, [])
    found, notes = label_map(volume, read_volume_mask(lab), ["lesion"])
    assert read_volume_mask(lab).format == NIFTI_LABELS and not notes
    for k in range(6):
        np.testing.assert_array_equal(found[k] == 1, nifti_slice(img, k) > 0)  # the mask lies on its structure as shown
    nifti(tmp_path / "labels" / "short.nii.gz", labels[..., :5])
    with pytest.raises(ValueError, match="geometry disagrees"):
        label_map(volume, read_volume_mask(tmp_path / "labels" / "short.nii.gz"), ["lesion"])
    nifti(tmp_path / "labels" / "moved.nii.gz", labels, zooms=(0.8, 0.8, 4.0))
    with pytest.raises(ValueError, match="geometry disagrees"):
        label_map(volume, read_volume_mask(tmp_path / "labels" / "moved.nii.gz"), ["lesion"])
    nifti(tmp_path / "labels" / "three.nii.gz", labels * 3)
    with pytest.raises(ValueError, match="has no class"):
        label_map(volume, read_volume_mask(tmp_path / "labels" / "three.nii.gz"), ["lesion"])


def test_a_mask_folder_of_volumes_trains_slice_by_slice_and_names_bad_masks(tmp_path):
    root = tmp_path / "ds"
    good_paths = ct_series(root / "images" / "good", POSITIONS, patient="A")
    (good,), _ = volumes_at(root / "images" / "good", sorted((root / "images" / "good").iterdir()))
    shape = (good.height, good.width)
    seg_of(good_paths, root / "masks" / "good.dcm", {"tumour": np.stack([square(shape, 10, 10, 20)] * 2 + [np.zeros(shape, bool)] * 3)})
    contoured = ct_series(root / "images" / "contoured", POSITIONS, patient="B")
    rtstruct_of(contoured, root / "masks" / "contoured.dcm", {"tumour": [(4, [(0, 0), (9, 0), (9, 9), (0, 9)], "CLOSED_PLANAR")]})
    elsewhere = ct_series(tmp_path / "elsewhere", POSITIONS, patient="C")
    ct_series(root / "images" / "wrong", POSITIONS, patient="C")
    seg_of(elsewhere, root / "masks" / "wrong.dcm", {"tumour": np.stack([square(shape, 1, 1, 4)] * 5)})
    ct_series(root / "images" / "unmasked", POSITIONS, patient="D")
    volume = np.zeros((20, 20, 4), np.float32)
    volume[2:6, 2:6, 1] = 300.0
    nifti(root / "images" / "scan.nii.gz", volume)
    nifti(root / "masks" / "scan.nii.gz", (volume > 0).astype(np.uint8))
    (root / "classes.txt").write_text("tumour\n")

    info = scan_dataset_at(root)
    assert info.annotation == "segmentation" and info.classes == ["tumour"]
    by_volume: dict[str, list] = {}
    for case in info.cases:
        by_volume.setdefault(case.title.split(" #")[0], []).append(case)
    unmasked = [c for c in info.cases if "/unmasked/" in str(c.image)]
    assert len(unmasked) == 5 and all(c.slice is None and "no mask" in c.problem for c in unmasked)  # images, each without its mask
    by_volume = {name: cases for name, cases in by_volume.items() if "/unmasked/" not in name}
    assert {name: len(cases) for name, cases in by_volume.items()} == {"contoured": 5, "good": 5, "scan.nii.gz": 4, "wrong": 5}
    assert all(c.usable for c in by_volume["good"] + by_volume["contoured"] + by_volume["scan.nii.gz"])
    assert [c.labels for c in by_volume["good"]].count(("tumour",)) == 2 and [c.labels for c in by_volume["scan.nii.gz"]].count(
        ("tumour",)
    ) == 1
    assert all("none of them in this series" in c.problem for c in by_volume["wrong"])
    assert {c.patient for c in by_volume["good"]} == {"A"}  # slices of a study split together

    data = build_cache(info, tmp_path / "cache", 32, masks=True, processes=1)
    assert len(data.cases) == 14 and data.masks.shape == (14, 32, 32)
    tumour_rows = [i for i, c in enumerate(data.cases) if c.labels == ("tumour",)]
    assert len(tumour_rows) == 4 and all(np.asarray(data.masks[i]).max() == 1 for i in tumour_rows)
    assert all(np.asarray(data.masks[i]).max() == 0 for i in range(14) if i not in tumour_rows)
