import io

from PIL import Image

from deepq_widgets.data.catalog import scan_dataset
from deepq_widgets.data.preview import CAPTION_H, case_caption, page_count, render_preview
from deepq_widgets.data.readers import read_image


def test_page_geometry_and_paging(demo_ws):
    info = scan_dataset(demo_ws, "ultrasound_lesions")
    assert page_count(info, 50) == 3
    img = Image.open(io.BytesIO(render_preview(info, page=0, page_size=12, columns=4, thumb=64)))
    assert img.size == (4 * 64, 3 * (64 + CAPTION_H))
    last = Image.open(io.BytesIO(render_preview(info, page=99, page_size=50, columns=10, thumb=64)))
    assert last.size == (10 * 64, 2 * (64 + CAPTION_H))  # clamped to the last page, which holds 20 cases


def test_boxes_and_masks_are_drawn(demo_ws):
    """Colour only comes from boxes and overlays: the demo images are grey."""
    for name in ("lung_nodules", "abdomen_organs"):
        info = scan_dataset(demo_ws, name)
        img = Image.open(io.BytesIO(render_preview(info, page_size=8, thumb=96))).convert("RGB")
        r, g, _b = (channel for channel in img.split())
        assert max(abs(x - y) for x, y in zip(r.getdata(), g.getdata(), strict=True)) > 50, name


def test_patient_identifiers_only_on_request(demo_ws):
    info = scan_dataset(demo_ws, "chest_xray_pneumothorax")
    case = info.cases[0]
    meta = read_image(case.image).meta
    hidden, shown = case_caption(case, meta), case_caption(case, meta, show_identifiers=True)
    assert meta["patient_id"] not in hidden and "DEMO^" not in hidden
    assert meta["patient_id"] in shown and "DEMO^" in shown
    assert render_preview(info, page_size=4) != render_preview(info, page_size=4, show_identifiers=True)


def test_unreadable_cases_show_their_problem(ws):
    from tests.helpers import png, write_csv

    root = ws.datasets / "d"
    png(root / "a.png")
    (root / "b.png").write_text("oops")
    write_csv(root / "label.csv", ["path", "class"], [("a.png", "x"), ("b.png", "x")])
    img = Image.open(io.BytesIO(render_preview(scan_dataset(ws, "d"), thumb=64))).convert("RGB")
    assert img.getpixel((64 + 10, 10))[0] > img.getpixel((64 + 10, 10))[1]  # the bad tile is tinted red


def test_long_captions_wrap_onto_the_tile_before_anything_is_cut():
    from deepq_widgets.data.preview import _fit_text

    said = _fit_text("atelectasis, cardiomegaly, effusion, nodule", 128)
    assert said.replace("\n", " ") == "atelectasis, cardiomegaly, effusion, nodule" and "…" not in said
    assert _fit_text("(no finding)", 128) == "(no finding)"
    assert _fit_text(" ".join(["word"] * 40), 128).endswith("…") and _fit_text(" ".join(["word"] * 40), 128).count("\n") == 2
