"""`deepq evaluate`: a registered model scored on the cases of a labelled dataset it never saw, with intervals."""

import json

import pytest

from deepq_widgets import intervals
from deepq_widgets.cli import main
from deepq_widgets.store import FINISHED
from tests.conftest import held_out_set_beside
from tests.training.conftest import general_spec, run_in_process

pytestmark = pytest.mark.slow


def test_evaluate_scores_a_dataset_and_flags_files_the_model_trained_on(demo_copy, capsys):
    spec = general_spec(
        demo_copy, capsys, "single_label", "ultrasound_lesions", "lesions", hyper__epochs=2, image_size=64, hyper__early_stop=False
    )
    row, _ = run_in_process(demo_copy, spec)
    assert row.state == FINISHED, row.error

    held_out_set_beside(demo_copy, "ultrasound_lesions", "ultrasound_test")  # 30 images: 15 of them its own training files
    capsys.readouterr()
    report = demo_copy.root / "test-report.html"
    argv = ["evaluate", row.model_id, "--dataset", "ultrasound_test", "--workspace", str(demo_copy.root), "--json", "--report", str(report)]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    metrics = result["metrics"]
    assert metrics["cases"] == 15 and 0 <= metrics["accuracy"] <= 1  # the 15 it never saw, alone
    low, high = metrics["accuracy_ci"]
    wilson = intervals.wilson(round(metrics["accuracy"] * 15), 15)  # the interval of a proportion of 15 cases
    assert (low, high) == pytest.approx(wilson) and low <= metrics["accuracy"] <= high
    assert "unstable" in metrics["warning"]
    (said,) = result["overlap"]
    assert said.startswith("Scored on the 15 of 30 cases the model never saw: 15 of the 30 cases share image files") and "left out" in said
    assert [r["class"] for r in result["per_class"]] == ["benign", "malignant", "normal", "average"]
    assert "sensitivity" in result["per_class"][0]["intervals"]
    assert "ultrasound_test" in report.read_text() and "95% intervals" in report.read_text()
    stored = (demo_copy.model_dir(row.model_id) / "evaluations" / "ultrasound_test.json").read_text()
    assert '"dice"' not in stored and '"ap50"' not in stored  # a classification table has no segmentation columns

    assert main(["models", "--workspace", str(demo_copy.root), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)[0]["evaluations"]
    assert [e["dataset"] for e in listed] == ["ultrasound_test"] and listed[0]["accuracy"] == metrics["accuracy"]

    assert main(["evaluate", row.model_id, "--dataset", "fundus_findings", "--workspace", str(demo_copy.root)]) == 2
    assert "refused" in capsys.readouterr().err
    # its own training data: refused with the reason, unless the user asks for the seen cases (a check of fit)
    assert main(["evaluate", row.model_id, "--dataset", "ultrasound_lesions", "--workspace", str(demo_copy.root)]) == 2
    assert "every one of the 120 cases of 'ultrasound_lesions' was used to train or select the model" in capsys.readouterr().err
    argv = [
        "evaluate",
        row.model_id,
        "--dataset",
        "ultrasound_lesions",
        "--workspace",
        str(demo_copy.root),
        "--include-seen-cases",
        "--json",
    ]
    assert main(argv) == 0
    seen = json.loads(capsys.readouterr().out)
    assert seen["metrics"]["cases"] == 120 and "scored all the same" in seen["overlap"][0]
