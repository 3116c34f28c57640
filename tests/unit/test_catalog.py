"""Layouts, fits and the problem report, including every bad input the issue lists."""

import json
import shutil

import pytest
from pydicom.data import get_testdata_file

from deepq_widgets.data.catalog import balance_grade, scan_dataset
from tests.helpers import class_folders, png, write_csv


def problems_of(info, kind=None):
    return [str(p) for p in info.problems if kind is None or p.kind == kind]


def test_class_folders(ws):
    class_folders(ws.datasets / "cf", {"a": 6, "b": 5})
    info = scan_dataset(ws, "cf")
    assert (info.layout, info.annotation, info.fits, info.format) == ("class_folders", "single_label", ["single_label"], "png")
    assert info.class_counts == {"a": 6, "b": 5} and len(info.usable) == 11 and info.channels == 1
    assert info.fit("single_label") == (True, "")
    ok, reason = info.fit("detection")
    assert not ok and "annotated for single-label" in reason


def test_single_and_multi_label_csv(ws):
    root = ws.datasets / "ml"
    for i in range(6):
        png(root / "img" / f"{i}.png", mode="RGB")
    rows = [(f"img/{i}.png", c, int((i + k) % 2)) for i in range(6) for k, c in enumerate(["x", "y"])]
    write_csv(root / "label.csv", ["path", "class", "value"], rows)
    info = scan_dataset(ws, "ml")
    assert info.annotation == "multi_label" and info.classes == ["x", "y"] and info.channels == 3
    assert info.class_counts == {"x": 3, "y": 3}
    root2 = ws.datasets / "sl"
    for i in range(6):
        png(root2 / f"{i}.png")
    write_csv(root2 / "label.csv", ["path", "class"], [(f"{i}.png", "pos" if i % 2 else "neg") for i in range(6)])
    assert scan_dataset(ws, "sl").class_counts == {"neg": 3, "pos": 3}


def test_detection_csv_boxes_outside_the_image_are_clipped_and_reported(ws):
    root = ws.datasets / "det"
    for i in range(4):
        png(root / f"{i}.png", size=(64, 48))
    rows = [
        ("0.png", "nodule", 10, 10, 8, 8),
        ("1.png", "nodule", 60, 40, 10, 10),
        ("2.png", "nodule", 100, 100, 5, 5),
        ("3.png", "", "", "", "", ""),
    ]
    write_csv(root / "label.csv", ["image", "object", "xLeft", "yTop", "width", "height"], rows)
    info = scan_dataset(ws, "det")
    assert info.annotation == "detection"
    boxes = {c.image.name: c.boxes for c in info.cases}
    assert boxes["1.png"][0].w == 4 and boxes["1.png"][0].h == 8  # clipped to 64x48
    assert boxes["2.png"] == () and boxes["3.png"] == ()
    box_problems = problems_of(info, "box")
    assert any("1.png" in p and "clipped" in p for p in box_problems)
    assert any("2.png" in p and "dropped" in p for p in box_problems)


def test_coco_with_polygons_fits_detection_and_segmentation(ws):
    root = ws.datasets / "coco"
    png(root / "images" / "a.png", size=(40, 40))
    png(root / "images" / "b.png", size=(40, 40))
    doc = {
        "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 40}, {"id": 2, "file_name": "b.png", "width": 40, "height": 40}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 10, 10], "segmentation": [[5, 5, 15, 5, 15, 15, 5, 15]]},
            {"id": 2, "image_id": 2, "category_id": 9, "bbox": [1, 1, 2, 2]},
        ],
        "categories": [{"id": 1, "name": "polyp"}],
    }
    (root / "annotations.json").write_text(json.dumps(doc))
    info = scan_dataset(ws, "coco")
    assert info.layout == "coco" and set(info.fits) == {"detection", "segmentation"}
    assert any("unknown category id 9" in p and "b.png" in p for p in problems_of(info, "unknown_class"))
    assert len(info.usable) == 1


def test_mask_folders_and_a_mask_of_the_wrong_size(ws):
    root = ws.datasets / "seg"
    (root / "classes.txt").parent.mkdir(parents=True)
    (root / "classes.txt").write_text("liver\nkidney\n")
    for i in range(3):
        png(root / "images" / f"{i}.png", size=(32, 32))
        png(root / "masks" / f"{i}.png", size=(32, 32) if i else (16, 16), value=i)
    png(root / "images" / "lonely.png")
    info = scan_dataset(ws, "seg")
    assert info.annotation == "segmentation" and info.classes == ["liver", "kidney"]
    assert any("0.png: mask is 16x16 but the image is 32x32" in p for p in problems_of(info, "mask"))
    assert any("lonely.png" in p for p in problems_of(info, "missing_file"))
    assert info.class_counts == {"liver": 1, "kidney": 1}


def test_dicom_with_label_csv_reads_study_and_patient(ws):
    root = ws.datasets / "dcm"
    for i, name in enumerate(["CT_small.dcm", "MR_small.dcm", "RG1_UNCI.dcm"]):
        (root / f"{i}.dcm").parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(get_testdata_file(name), root / f"{i}.dcm")
    write_csv(root / "label.csv", ["path", "class"], [("0.dcm", "a"), ("1.dcm", "b"), ("2.dcm", "a")])
    info = scan_dataset(ws, "dcm")
    assert info.format == "dicom" and info.has_studies and set(info.modalities) == {"CT", "MR", "CR"}
    assert all(c.study for c in info.cases)


def test_bad_files_are_reported_by_name_and_excluded(ws):
    root = ws.datasets / "bad"
    for i in range(4):
        png(root / f"ok{i}.png")
    (root / "text.png").write_text("not an image at all")
    src = open(get_testdata_file("CT_small.dcm"), "rb").read()
    (root / "cut.dcm").write_bytes(src[: len(src) - 5000])
    full = png(root / "trunc.png", size=(64, 64))
    full.write_bytes(full.read_bytes()[:-20])
    rows = [(f"ok{i}.png", "a" if i < 2 else "b") for i in range(4)] + [
        ("text.png", "a"),
        ("cut.dcm", "b"),
        ("trunc.png", "a"),
        ("gone.png", "b"),
    ]
    write_csv(root / "label.csv", ["path", "class"], rows)
    info = scan_dataset(ws, "bad")
    report = "\n".join(problems_of(info))
    assert "text.png: not an image" in report
    assert "cut.dcm: truncated DICOM" in report
    assert "trunc.png: truncated PNG" in report
    assert "gone.png: missing file" in report
    assert len(info.cases) == 8 and len(info.usable) == 4  # listed, never silently dropped


def test_empty_folder_and_csv_with_missing_columns(ws):
    (ws.datasets / "empty").mkdir()
    info = scan_dataset(ws, "empty")
    assert info.fit("single_label")[0] is False and "empty folder" in problems_of(info)[0]
    write_csv(ws.datasets / "cols" / "label.csv", ["file", "label"], [("a.png", "x")])
    info = scan_dataset(ws, "cols")
    assert "label.csv: missing columns" in problems_of(info)[0] and "neither a header" in problems_of(info)[0]
    assert info.fit("single_label") == (False, "no recognised annotation layout: " + info.problems[0].message)


def test_label_paths_outside_the_dataset_folder_are_refused(ws, tmp_path):
    png(tmp_path / "secret.png")
    png(ws.datasets / "other" / "x" / "inside_the_workspace.png")
    root = ws.datasets / "escape"
    png(root / "a.png")
    rows = [("a.png", "x"), ("../../../secret.png", "y"), (str(tmp_path / "secret.png"), "y"), ("../other/x/inside_the_workspace.png", "y")]
    write_csv(root / "label.csv", ["path", "class"], rows)
    info = scan_dataset(ws, "escape")
    outside = problems_of(info, "outside")
    assert len(outside) == 3 and all("outside the dataset folder" in p for p in outside)
    assert [c.image.name for c in info.cases] == ["a.png"]


def test_unknown_classes_and_small_classes(ws):
    root = ws.datasets / "cls"
    for i in range(12):
        png(root / f"{i}.png")
    (root / "classes.txt").write_text("a\nb\nc\n")
    rows = [(f"{i}.png", "a") for i in range(9)] + [("9.png", "b"), ("10.png", "c"), ("11.png", "zebra")]
    write_csv(root / "label.csv", ["path", "class"], rows)
    info = scan_dataset(ws, "cls")
    report = problems_of(info)
    assert any("11.png: unknown class zebra" in p for p in report)
    assert any("class 'b' has 1 case (at least 3 needed)" in p for p in report)
    assert any("class 'b' is seriously under-represented" in p for p in report)
    assert info.balance == {"a": "well", "b": "seriously", "c": "seriously"}


@pytest.mark.parametrize("n, largest, grade", [(50, 100, "well"), (49, 100, "mildly"), (20, 100, "mildly"), (19, 100, "seriously")])
def test_balance_grades(n, largest, grade):
    assert balance_grade(n, largest) == grade


def test_deepq_label_files_without_a_header_are_read_by_column_order(ws):
    single = ws.datasets / "deepq_single"
    for i in range(6):
        png(single / f"{i}.png")
    (single / "label.csv").write_text("".join(f"{i}.png,{'cat' if i < 3 else 'dog'}\n" for i in range(6)))
    info = scan_dataset(ws, "deepq_single")
    assert info.annotation == "single_label" and info.classes == ["cat", "dog"] and len(info.usable) == 6

    multi = ws.datasets / "deepq_multi"
    for i in range(4):
        png(multi / f"{i}.png")
    rows = [f"{i}.png,effusion,{i % 2}\n{i}.png,nodule,1\n" for i in range(4)]
    (multi / "label.csv").write_text("".join(rows))
    info = scan_dataset(ws, "deepq_multi")
    assert info.annotation == "multi_label" and set(info.classes) == {"effusion", "nodule"} and len(info.usable) == 4

    boxes = ws.datasets / "deepq_boxes"
    for i in range(3):
        png(boxes / f"{i}.png", size=(64, 64))
    (boxes / "label.csv").write_text("".join(f"{i}.png,nodule,{i},{i},10,12\n" for i in range(3)))
    info = scan_dataset(ws, "deepq_boxes")
    assert info.annotation == "detection" and [len(c.boxes) for c in info.cases] == [1, 1, 1]

    wrong = ws.datasets / "no_header_no_image"
    png(wrong / "a.png")
    (wrong / "label.csv").write_text("missing.png,cat\n")
    assert "is neither a header" in problems_of(scan_dataset(ws, "no_header_no_image"))[0]
