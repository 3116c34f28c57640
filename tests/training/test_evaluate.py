"""`deepq evaluate`: a registered model scored on a labelled dataset, with intervals and overlap warnings."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from deepq_widgets import intervals
from deepq_widgets.cli import main
from deepq_widgets.store import FINISHED
from tests.training.conftest import general_spec, run_in_process

pytestmark = pytest.mark.slow


def test_evaluate_scores_a_dataset_and_flags_files_the_model_trained_on(demo_copy, capsys):
    spec = general_spec(
        demo_copy, capsys, "single_label", "ultrasound_lesions", "lesions", hyper__epochs=2, image_size=64, hyper__early_stop=False
    )
    row, _ = run_in_process(demo_copy, spec)
    assert row.state == FINISHED, row.error

    # A test set of 30 images: 15 copied from the training data, 15 changed (new content, same names).
    src, dst = demo_copy.datasets / "ultrasound_lesions", demo_copy.datasets / "ultrasound_test"
    for label in ("benign", "malignant", "normal"):
        (dst / label).mkdir(parents=True)
        for i, path in enumerate(sorted((src / label).glob("*.png"))[:10]):
            shutil.copy(path, dst / label / path.name)
            if i % 2:
                pixels = np.asarray(Image.open(path)).copy()
                pixels[:4, :4] = 255 - pixels[:4, :4]
                Image.fromarray(pixels).save(dst / label / path.name)
    capsys.readouterr()
    report = demo_copy.root / "test-report.html"
    argv = ["evaluate", row.model_id, "--dataset", "ultrasound_test", "--workspace", str(demo_copy.root), "--json", "--report", str(report)]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    metrics = result["metrics"]
    assert metrics["cases"] == 30 and 0 <= metrics["accuracy"] <= 1
    low, high = metrics["accuracy_ci"]
    wilson = intervals.wilson(round(metrics["accuracy"] * 30), 30)  # the interval of a proportion of 30 cases
    assert (low, high) == pytest.approx(wilson) and low <= metrics["accuracy"] <= high
    assert "unstable" in metrics["warning"]
    assert any("15 of 30 images are files the model trained or was selected on" in w for w in result["overlap"])
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
