"""The notebook API as a researcher uses it from a cell: only `import deepq_widgets as dq`, a real
worker process, a real evaluation and prediction. No internal module is imported here."""

import shutil
import time

import pandas as pd
import pytest

import deepq_widgets as dq

pytestmark = pytest.mark.slow


@pytest.fixture
def ws(demo_root, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPQ_WORKER_IDLE", "3")
    monkeypatch.setenv("DEEPQ_THREADS", "2")
    shutil.copytree(demo_root, tmp_path / "ws")
    return dq.Workspace(tmp_path / "ws")


def test_a_task_from_code_end_to_end(ws, tmp_path):
    datasets = ws.datasets(task="single_label")
    assert isinstance(datasets, pd.DataFrame) and datasets.loc["ultrasound_lesions", "fits"]
    assert not datasets.loc["abdomen_organs", "fits"] and "segmentation" in datasets.loc["abdomen_organs", "why not"]
    assert ws.preview("ultrasound_lesions").data[:4] == b"\x89PNG"

    with pytest.raises(ValueError, match="epochs must be between 1 and 200"):
        ws.spec(task="single_label", dataset="ultrasound_lesions", epochs=500)  # the wizard's own rule and message
    spec = ws.spec(
        task="single_label", dataset="ultrasound_lesions", model="tf_efficientnet_lite0.in1k", epochs=2, image_size=64, name="api"
    )
    task = ws.submit(spec)
    assert task.state in ("waiting", "running") and "api" in repr(task)
    assert task.wait(progress=False, timeout=600) is task and task.state == "finished"

    history = task.history()
    assert list(history["epoch"]) == [1, 2] and {"train_loss", "valid_loss", "accuracy", "auroc"} <= set(history.columns)
    figure = task.plot()
    assert [a.get_title() for a in figure.axes] == ["Loss", "Validation figures"] and figure.axes[0].lines
    insight = task.insight()
    assert "Evaluation (validation cases)" in insight.document and "95% intervals" in insight.document
    assert insight.save(tmp_path / "report.html").read_text() == insight.document
    assert "finished" in task._repr_html_() and "<iframe" in insight._repr_html_()  # the report keeps its styles to itself

    tasks, models = ws.tasks(), ws.models()
    assert tasks.loc[task.id, "state"] == "finished" and task.model.id in models.index
    assert models.loc[task.model.id, "accuracy_ci"] is not None  # figures with their intervals

    model = ws.model(task.model.id)
    with pytest.raises(ValueError, match="was used to train or select the model"):
        model.evaluate("ultrasound_lesions", progress=False)  # its own training data: no test of it at all
    evaluation = model.evaluate("ultrasound_lesions", progress=False, include_seen=True)  # asked for: scored, and said
    assert 0 <= evaluation.metrics["accuracy"] <= 1 and len(evaluation.metrics["accuracy_ci"]) == 2
    assert {"benign", "malignant", "normal", "average"} == set(evaluation.table.index)
    assert any("scored all the same" in w for w in evaluation.warnings)
    assert "95% intervals" in evaluation._repr_html_() and [e.found.dataset for e in model.evaluations()] == ["ultrasound_lesions"]

    predictions = model.predict(dataset="ultrasound_lesions")
    assert len(predictions) == 120 and {"image", "summary", "decision", "benign", "malignant", "normal"} <= set(predictions.columns)
    assert predictions[["benign", "malignant", "normal"]].sum(axis=1).round(4).eq(1).all()
    page = predictions.show(page=1)
    assert page.document.count("<img") == 12 and "13–24 of 120" in page.document  # with the heatmaps over them
    assert predictions.head(3).show().document.count("<img") == 3  # a slice shows its own rows
    doubtful = predictions.sort_values("benign").tail(2)
    assert [p.split("/")[-1] in doubtful.show().document for p in doubtful["image"]] == [True, True]

    exported = model.export("safetensors")
    assert exported.is_file() and exported.parent == ws.root / "exports"


def test_stop_and_resume_from_code(ws):
    spec = ws.spec(
        task="single_label", dataset="ultrasound_lesions", model="tf_efficientnet_lite0.in1k", epochs=6, image_size=64, name="long"
    )
    task = ws.submit(spec)
    with pytest.raises(TimeoutError):
        task.wait(progress=False, timeout=2)  # the task goes on
    deadline = time.time() + 300
    while task.history().empty and time.time() < deadline:
        time.sleep(0.5)
    task.stop().wait(progress=False, timeout=300)
    assert task.state == "stopped" and 1 <= len(task.history()) < 6
    ws.task("long").resume().wait(progress=False, timeout=600)  # by name, from its last checkpoint
    assert task.state == "finished" and task.history()["epoch"].max() == 6 and task.model is not None
