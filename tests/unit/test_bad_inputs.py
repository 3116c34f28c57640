"""One bad file is a named problem of that file or dataset: it never breaks the catalogue of the
others, never leads out of the dataset folder, and never reaches a decoder unbounded."""

import json
import os

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from deepq_widgets.cli import main
from deepq_widgets.data.catalog import scan_dataset, scan_workspace
from deepq_widgets.data.preview import render_preview
from deepq_widgets.data.readers import ReaderError, read_image
from tests.helpers import class_folders, png, write_csv


def problems(info, kind=None):
    return [str(p) for p in info.problems if kind is None or p.kind == kind]


def good_dataset(ws):
    class_folders(ws.datasets / "good", {"a": 4, "b": 4})


def test_links_out_of_a_dataset_are_refused_and_break_nothing(ws, tmp_path):
    good_dataset(ws)
    png(tmp_path / "outside" / "secret.png")
    class_folders(ws.datasets / "linked", {"a": 3, "b": 3})
    (ws.datasets / "linked" / "a" / "secret.png").symlink_to(tmp_path / "outside" / "secret.png")
    (ws.datasets / "linked" / "a" / "everything").symlink_to("/")
    (ws.datasets / "linked" / "root_class").symlink_to("/")
    (ws.datasets / "whole_dataset_is_a_link").symlink_to(tmp_path / "outside")
    found = {info.name: info for info in scan_workspace(ws)}
    assert set(found) == {"good", "linked", "whole_dataset_is_a_link"}
    assert len(found["good"].usable) == 8 and not problems(found["good"], "outside")
    linked = found["linked"]
    assert all("secret" not in c.image.name for c in linked.cases) and len(linked.usable) == 6
    said = " | ".join(problems(linked, "outside"))
    assert "secret.png: symbolic link to a file outside the dataset folder" in said
    assert "everything: symbolic link to a folder; not followed" in said
    assert "root_class: folder leads outside the dataset folder" in said
    whole = found["whole_dataset_is_a_link"]
    assert not whole.cases and "symbolic link" in problems(whole)[0]


def test_a_link_inside_the_dataset_is_fine(ws):
    class_folders(ws.datasets / "dedup", {"a": 3, "b": 3})
    first = sorted((ws.datasets / "dedup" / "a").glob("*.png"))[0]
    (ws.datasets / "dedup" / "b" / "same.png").symlink_to(first)
    info = scan_dataset(ws, "dedup")
    assert len(info.usable) == 7 and not problems(info, "outside")


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("cp1252", b""), ("utf-16", b"")],  # Python's utf-16 writes its BOM itself
)
def test_label_csv_that_is_not_utf8_is_read_and_named(ws, encoding, bom):
    good_dataset(ws)
    root = ws.datasets / "latin"
    for name in ("épanchement.png", "normal.png", "n2.png", "n3.png", "e2.png", "e3.png"):
        png(root / name)
    text = "path,class\nÉpanchement.png,épanchement\nnormal.png,normal\n".replace("Épanchement", "épanchement")
    text += "n2.png,normal\nn3.png,normal\ne2.png,épanchement\ne3.png,épanchement\n"
    (root / "label.csv").write_bytes(bom + text.encode(encoding))
    found = {info.name: info for info in scan_workspace(ws)}
    assert len(found["good"].usable) == 8
    latin = found["latin"]
    assert sorted(latin.classes) == ["normal", "épanchement"] and len(latin.usable) == 6
    if encoding == "cp1252":
        assert any("label.csv: not UTF-8" in p and "Windows-1252" in p for p in problems(latin))


def test_unparseable_label_files_are_the_problem_of_their_dataset(ws):
    good_dataset(ws)
    root = ws.datasets / "huge_field"
    png(root / "a.png")
    (root / "label.csv").write_text("path,class\n" + '"' + "x" * 200_000 + '",a\n')
    coco = ws.datasets / "coco_missing_keys"
    png(coco / "images" / "a.png")
    png(coco / "images" / "b.png")
    doc = {
        "images": [{"id": 1, "file_name": "a.png"}, {"file_name": "b.png"}],  # the second has no id
        "annotations": [
            {"id": 7, "category_id": 1, "bbox": [1, 1, 5, 5]},
            {"id": 8, "image_id": 1, "category_id": 1, "bbox": [2, 2, 4, 4]},
        ],
        "categories": [{"id": 1, "name": "polyp"}],
    }
    (coco / "coco.json").write_text(json.dumps(doc))
    broken = ws.datasets / "coco_broken"
    (broken).mkdir()
    (broken / "coco.json").write_text(json.dumps({"images": 5, "annotations": [], "categories": [{"nope": 1}]}))
    found = {info.name: info for info in scan_workspace(ws)}
    assert len(found["good"].usable) == 8
    assert any("label.csv: cannot be read" in p and "line 2" in p and "field larger" in p for p in problems(found["huge_field"]))
    said = " | ".join(problems(found["coco_missing_keys"]))
    assert "annotation 7 has no image_id" in said and "image entry 1 lacks id or file_name" in said
    assert [c.image.name for c in found["coco_missing_keys"].cases] == ["a.png"]
    assert "coco.json: cannot be read: KeyError" in problems(found["coco_broken"])[0]


def test_dicom_with_unknown_syntax_or_malformed_numbers_is_named(ws):
    good_dataset(ws)
    root = ws.datasets / "odd_dicom"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    source = get_testdata_file("CT_small.dcm")
    for i in range(3):
        ds = pydicom.dcmread(source)
        ds.file_meta.TransferSyntaxUID = "1.2.3.4.5.6"  # no such transfer syntax
        ds.save_as(root / "a" / f"unknown_syntax_{i}.dcm", enforce_file_format=False)
        ds = pydicom.dcmread(source)
        ds.NumberOfFrames = 9
        ds.save_as(root / "b" / f"bad_frames_{i}.dcm")
        raw, element = (root / "b" / f"bad_frames_{i}.dcm").read_bytes(), b"\x28\x00\x08\x00IS\x02\x009 "
        assert element in raw
        (root / "b" / f"bad_frames_{i}.dcm").write_bytes(raw.replace(element, element[:-2] + b"x1"))  # a malformed number
    found = {info.name: info for info in scan_workspace(ws)}
    assert len(found["good"].usable) == 8
    odd = found["odd_dicom"]
    assert not odd.usable and len(problems(odd, "unreadable")) == 6
    assert all(".dcm:" in p for p in problems(odd, "unreadable"))


def test_a_decompression_bomb_is_named_not_decoded(ws, tmp_path, monkeypatch, capsys):
    good_dataset(ws)
    root = ws.datasets / "bombs"
    class_folders(root, {"a": 3, "b": 3})
    bomb = root / "a" / "bomb.png"
    Image.new("1", (14_000, 14_000)).save(bomb)  # 196 megapixels, a few KiB on disk
    info = {i.name: i for i in scan_workspace(ws)}["bombs"]
    assert any("bomb.png: image is 14,000 x 14,000 = 196 megapixels, above the limit" in p for p in problems(info))
    assert len(info.usable) == 6
    with pytest.raises(ReaderError, match="above the limit"):
        read_image(bomb)
    assert render_preview(info, page=0)[:4] == b"\x89PNG"  # the bomb's tile names its problem
    out = tmp_path / "page.png"
    assert main(["preview", "bombs", "--workspace", str(ws.root), "--out", str(out), "--page-size", "8"]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    monkeypatch.setenv("DEEPQ_MAX_PIXELS", "500")  # a setting: 32x32 images are now too big
    small = scan_dataset(ws, "good")
    assert not small.usable and "DEEPQ_MAX_PIXELS" in problems(small)[0]


def test_dicom_frame_cap(ws, monkeypatch):
    source = get_testdata_file("CT_small.dcm")
    monkeypatch.setenv("DEEPQ_MAX_FRAMES", "1")
    ds = pydicom.dcmread(source)
    ds.NumberOfFrames = 2
    ds.PixelData = ds.PixelData * 2
    path = ws.root / "two_frames.dcm"
    ds.save_as(path)
    with pytest.raises(ReaderError, match="2 frames, above the limit of 1"):
        read_image(path)


def test_file_names_that_are_not_utf8_are_named(ws):
    good_dataset(ws)
    folder = ws.datasets / "bytes" / "a"
    class_folders(ws.datasets / "bytes", {"a": 3, "b": 3})
    raw = os.fsencode(folder) + b"/caf\xe9.png"  # Latin-1 bytes: not UTF-8
    with open(raw, "wb") as fh:
        Image.fromarray(np.full((32, 32), 9, np.uint8)).save(fh, format="PNG")
    info = {i.name: i for i in scan_workspace(ws)}["bytes"]
    assert len(info.usable) == 6
    said = problems(info, "unreadable")
    assert len(said) == 1 and "caf\\xe9.png: file name is not valid UTF-8" in said[0]
    said[0].encode("utf-8")  # printable anywhere


def test_rows_without_a_class_or_with_a_nan_box_are_left_out_by_name(ws):
    root = ws.datasets / "rows"
    for i in range(8):
        png(root / f"{i}.png", size=(64, 64))
    write_csv(root / "label.csv", ["path", "class"], [(f"{i}.png", "a" if i < 4 else "b") for i in range(7)] + [("7.png", "")])
    info = scan_dataset(ws, "rows")
    assert len(info.usable) == 7 and any("7.png has no class" in p for p in problems(info))
    boxes = ws.datasets / "boxes"
    for i in range(3):
        png(boxes / f"{i}.png", size=(64, 64))
    rows = [("0.png", "nodule", 1, 1, 10, 10), ("1.png", "nodule", "nan", 1, 10, 10), ("2.png", "nodule", 1, 1, 0, 10)]
    write_csv(boxes / "label.csv", ["image", "object", "xLeft", "yTop", "width", "height"], rows)
    info = scan_dataset(ws, "boxes")
    assert [len(c.boxes) for c in info.cases] == [1, 0, 0]
    assert sum("not finite or has no area" in p for p in problems(info)) == 2


def test_a_16_bit_mask_value_of_256_is_named_not_wrapped_to_background(ws):
    root = ws.datasets / "seg"
    (root / "masks").mkdir(parents=True)
    (root / "classes.txt").write_text("liver\nkidney\n")
    for i in range(4):
        png(root / "images" / f"{i}.png", size=(16, 16))
        mask = np.zeros((16, 16), np.uint16)
        mask[4:8, 4:8] = 256 if i == 0 else 1 + i % 2
        Image.fromarray(mask).save(root / "masks" / f"{i}.png")
    info = scan_dataset(ws, "seg")
    assert len(info.usable) == 3
    assert any("0.png: mask value 256 has no class (classes: 2)" in p for p in problems(info))


def test_the_dashboards_catalogue_lists_every_dataset_even_with_broken_links(ws, tmp_path):
    from deepq_widgets.context import CatalogCache

    good_dataset(ws)
    class_folders(ws.datasets / "dangling", {"a": 3, "b": 3})
    (ws.datasets / "dangling" / "a" / "gone.png").symlink_to(tmp_path / "deleted.png")  # a link to nothing
    (ws.datasets / "dangling_dataset").symlink_to(tmp_path / "nowhere")
    catalog = CatalogCache(ws)
    found = catalog()
    assert catalog.ready.is_set() and set(found) >= {"good", "dangling"}
    assert len(found["good"].usable) == 8 and len(found["dangling"].usable) == 6
