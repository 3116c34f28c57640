"""Regression's data shape, owned by its kind: label.csv `path,value` beside target.txt, bad values named and
left out, class names refused, its statistics, figures and intervals, and the prediction's typed shape."""

import numpy as np
import pytest

from deepq_widgets import kinds
from deepq_widgets.contracts import DataStatistics, InferenceRun, Prediction
from deepq_widgets.data.catalog import scan_dataset
from deepq_widgets.data.preview import case_caption
from tests.helpers import png, write_csv


def measured(ws, rows, target="nodule diameter\nmm\n", header=("path", "value")):
    folder = ws.datasets / "sizes"
    for name, _ in rows:
        png(folder / name, value=60)
    write_csv(folder / "label.csv", list(header), rows) if header else write_csv(folder / "label.csv", *rows[:1], rows[1:])
    if target is not None:
        (folder / "target.txt").write_text(target)
    return scan_dataset(ws, "sizes")


def test_a_value_per_image_is_read_with_its_quantity_and_unit(ws):
    info = measured(ws, [(f"img{i}.png", f"{3 + i * 1.5}") for i in range(6)])
    assert (info.annotation, info.classes) == ("regression", ["nodule diameter (mm)"])
    assert [c.fields["value"] for c in info.usable] == pytest.approx([3 + i * 1.5 for i in range(6)])
    assert info.fit("regression") == (True, "")
    assert not info.fit("single_label")[0] and "annotated for regression" in info.fit("single_label")[1]
    assert case_caption(info.usable[1], {}) == "nodule diameter (mm): 4.5"


def test_without_target_txt_the_quantity_is_called_value_and_a_headerless_file_needs_it(ws):
    assert measured(ws, [("a.png", "1"), ("b.png", "2"), ("c.png", "3")], target=None).classes == ["value"]
    headerless = measured(ws, [("a.png", "1.5"), ("b.png", "2"), ("c.png", "3")], header=None, target="bone age\nmonths\n")
    assert headerless.annotation == "regression" and [c.fields["value"] for c in headerless.usable] == [1.5, 2.0, 3.0]


@pytest.mark.parametrize("bad", ["twelve", "", "nan", "NaN", "inf", "-inf", "1e999"])
def test_a_value_that_is_not_a_finite_number_names_its_row_and_leaves_it_out(ws, bad):
    info = measured(ws, [("a.png", "1"), ("b.png", bad), ("c.png", "3"), ("d.png", "4")])
    assert [c.image.name for c in info.usable] == ["a.png", "c.png", "d.png"]
    (problem,) = [p for p in info.problems if "b.png" in str(p)]
    assert "left out" in problem.message and ("empty" in problem.message or "not a finite number" in problem.message)


def test_a_value_column_of_class_names_is_refused_with_the_reason(ws):
    info = measured(ws, [("a.png", "benign"), ("b.png", "malignant"), ("c.png", "benign"), ("d.png", "3.5"), ("e.png", "malignant")])
    assert info.annotation == "" and not info.usable
    assert any("class names (benign, malignant)" in p.message and "path,class" in p.message for p in info.problems)
    assert "class names" in info.fit("regression")[1]


def test_two_values_for_one_image_are_a_problem_of_that_image(ws):
    info = measured(ws, [("a.png", "1"), ("a.png", "2"), ("b.png", "3"), ("c.png", "4")])
    assert [c.image.name for c in info.usable] == ["b.png", "c.png"]
    assert any("several values" in p.message for p in info.problems)


def test_the_statistics_are_the_kinds_and_read_back_as_sentences(ws):
    from deepq_widgets.data.cache import CachedData

    info = measured(ws, [(f"img{i}.png", str(v)) for i, v in enumerate([2, 4, 6, 8, 100])])
    data = CachedData(images=np.zeros((5, 4, 4, 1), np.uint8), cases=info.usable, classes=info.classes, labels=np.ones((5, 1)))
    kind = kinds.get("regression")
    stats = DataStatistics(train=4, valid=1, train_counts={}, valid_counts={}, split="", kind=kind.statistics(data, [0, 1, 2, 3]))
    read_back = DataStatistics.model_validate_json(stats.model_dump_json())
    assert read_back.kind["target"]["median"] == 5.0 and read_back.kind["target"]["max"] == 8.0  # the training cases only
    (line,) = kind.describe_statistics(read_back.kind)
    assert line.startswith("nodule diameter (mm) on the training cases: mean 5 (SD 2.24), median 5, range 2–8")


def test_data_statistics_recorded_before_the_kinds_owned_them_still_read():
    old = {"train": 1, "valid": 1, "train_counts": {}, "valid_counts": {}, "split": "", "boxes": {"count": 3}, "mask_area_fraction": None}
    assert DataStatistics.model_validate(old).kind == {"boxes": {"count": 3}}


def test_the_figures_and_their_intervals_are_in_the_unit_and_r2_may_be_negative():
    from deepq_widgets.kinds.regression.training import RegressionAccumulator, figures

    truth = np.array([1.0, 2.0, 3.0, 4.0])
    assert figures(truth + 1, truth) == pytest.approx({"mae": 1.0, "rmse": 1.0, "r2": 1 - 4 / 5})
    assert figures(truth[::-1].copy(), truth)["r2"] < 0 and figures(truth, np.ones(4))["r2"] is None

    import torch

    rng = np.random.default_rng(0)
    truth = rng.uniform(4, 30, 80)
    acc = RegressionAccumulator(["diameter (mm)"])
    acc.add(torch.tensor(truth + rng.normal(0, 3, 80))[:, None], (torch.tensor(truth),))
    found = acc.metrics(final=True)
    for name in ("mae", "rmse", "r2"):
        low, high = found.intervals[name]
        assert low < found.headline[name] < high
    assert found.intervals["mae"][1] > 1.0  # in mm, not clipped to a proportion's [0, 1]
    evaluation = acc.evaluation("regression", [f"{i}.png" for i in range(80)])
    assert [c.title for c in evaluation.charts] == ["Predicted against true", "Residuals"]
    gallery = evaluation.gallery["Largest errors"]
    worst = int(np.argmax(np.abs(acc.arrays()[0] - truth)))
    assert worst in gallery.outcomes["Over-estimated"] + gallery.outcomes["Under-estimated"] and "true" in gallery.notes[worst]


def test_rows_kept_before_the_prediction_type_read_as_predictions():
    run = InferenceRun.model_validate(
        {
            "model_id": "m",
            "dataset": "d",
            "created": 0.0,
            "rows": [
                {"image": "a.png", "scores": {"benign": 0.8, "malignant": 0.2}, "decision": "benign", "heatmap_file": "h.png"},
                {"image": "b.png", "scores": {"x": 0.9, "y": 0.7}, "findings": ["x", "y"]},
                {"image": "c.png", "detections": [{"label": "nodule", "score": 0.9, "box": [1, 2, 3, 4]}]},
                {"image": "d.png", "area": {"liver": 0.25}, "mask_file": "m.png"},
            ],
        }
    )
    a, b, c, d = run.rows
    assert (a.summary, a.values["benign"], a.heatmap_file) == ("benign 0.80 → benign", 0.8, "h.png")
    assert b.decision == "x, y" and c.boxes[0].label == "nodule" and c.summary == "1 box"
    assert d.summary == "liver 25.0%" and d.mask_file == "m.png"
    assert Prediction(image="e.png", values={"diameter (mm)": 12.5}).values == {"diameter (mm)": 12.5}
