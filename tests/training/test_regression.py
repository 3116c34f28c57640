"""Regression end to end on the demo's nodule diameters: the wizard's task file from the CLI, a real run,
its figures with intervals, charts and largest errors, the report, evaluate on a dataset, predict with
Grad-CAM, ONNX export, and the notebook API with a real worker (Auto)."""

import json
import shutil

import numpy as np
import pytest

from deepq_widgets.cli import main
from deepq_widgets.contracts import DataEvent, Evaluation
from deepq_widgets.report import build_report, charts
from deepq_widgets.store import FINISHED
from tests.training.conftest import general_spec, run_in_process

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(demo_root, tmp_path_factory):
    from deepq_widgets.workspace import WorkspacePaths

    root = tmp_path_factory.mktemp("reg") / "ws"
    shutil.copytree(demo_root, root)
    return WorkspacePaths(root)


def test_a_diameter_is_learnt_judged_reported_evaluated_predicted_and_exported(trained, capsys):
    ws = trained
    assert main(["datasets", "--workspace", str(ws.root), "--task", "regression", "--json"]) == 0
    fits = {d["name"]: d["fit"] for d in json.loads(capsys.readouterr().out)}
    assert fits["nodule_diameters"] and not fits["ultrasound_lesions"]

    spec = general_spec(ws, capsys, "regression", "nodule_diameters", "diameter", image_size=64, hyper__epochs=8)
    row, store = run_in_process(ws, spec)
    assert row.state == FINISHED, f"{row.error}\n{row.traceback}"
    assert {"mae", "rmse", "r2", "mae_ci", "rmse_ci", "r2_ci"} <= set(row.metrics)
    spread = np.std([float(line.split(",")[1]) for line in (ws.datasets / "nodule_diameters" / "label.csv").read_text().splitlines()[1:]])
    assert row.metrics["rmse"] < 0.8 * spread  # better than saying the mean (whose RMSE is the spread)
    low, high = row.metrics["mae_ci"]
    assert low <= row.metrics["mae"] <= high and high > 1.0  # millimetres, not a proportion

    (data,) = store.events(row.id, DataEvent)
    assert data.statistics.kind["target"]["name"] == "nodule diameter (mm)" and 4 < data.statistics.kind["target"]["median"] < 30
    evaluation = Evaluation.model_validate_json((ws.task_dir(row.id) / "evaluation.json").read_text())
    assert set(charts(evaluation)) == {"Predicted against true", "Residuals"}
    assert all(png[:4] == b"\x89PNG" for png in charts(evaluation).values())
    report = build_report(store.task(row.id), store.events(row.id), evaluation)
    assert "nodule diameter (mm) on the training cases" in report and "Over-estimated" in report and "predicted" in report
    assert "<th>quantity</th><th>train</th><th>valid</th>" in report  # what the cases are counted by

    test_set = ws.datasets / "nodule_test"
    shutil.copytree(ws.datasets / "nodule_diameters", test_set)
    assert main(["evaluate", row.model_id, "--dataset", "nodule_test", "--workspace", str(ws.root), "--json", "--include-seen-cases"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["metrics"]["cases"] == 120 and "r2_ci" in scored["metrics"] and scored["overlap"]  # its own training files: said

    assert main(["predict", "--workspace", str(ws.root), row.model_id, "--dataset", "nodule_diameters", "--heatmaps", "heat"]) == 0
    rows = json.loads(capsys.readouterr().out)
    labelled = dict(line.split(",") for line in (ws.datasets / "nodule_diameters" / "label.csv").read_text().splitlines()[1:])
    said = {r["image"].split("nodule_diameters/")[1]: r["values"]["nodule diameter (mm)"] for r in rows}
    assert np.corrcoef([said[k] for k in labelled], [float(v) for v in labelled.values()])[0, 1] > 0.6
    assert rows[0]["summary"].startswith("nodule diameter (mm) ") and (ws.root / rows[0]["heatmap_file"]).is_file()

    assert main(["export", row.model_id, "--format", "onnx", "--out", "exports", "--workspace", str(ws.root)]) == 0
    import onnxruntime
    import torch

    from deepq_widgets.training.export import preprocess
    from deepq_widgets.training.registry import load_model

    model, card = load_model(ws, row.model_id)
    x = preprocess(ws.datasets / "nodule_diameters" / "images" / "nodule_000.png", card)
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    session = onnxruntime.InferenceSession(str(ws.root / "exports" / f"{row.model_id}.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"image": x.numpy()})[0], expected, atol=1e-3)
    assert expected[0, 0] == pytest.approx(said["images/nodule_000.png"], abs=1e-3)  # in mm, as predicted


def small_copy(ws, name: str, cases: int, side: int) -> None:
    """The first `cases` nodules at `side` px, so that an Auto run (which plans its own epochs) stays short."""
    from PIL import Image

    source, target = ws.datasets / "nodule_diameters", ws.datasets / name
    (target / "images").mkdir(parents=True)
    shutil.copy(source / "target.txt", target / "target.txt")
    header, *rows = (source / "label.csv").read_text().splitlines()
    for row in rows[:cases]:
        path = row.split(",")[0]
        Image.open(source / path).resize((side, side)).save(target / path)
    (target / "label.csv").write_text("\n".join([header, *rows[:cases]]) + "\n")


def test_auto_from_the_notebook_api_with_a_real_worker(trained, monkeypatch):
    import deepq_widgets as dq

    monkeypatch.setenv("DEEPQ_WORKER_IDLE", "3")
    monkeypatch.setenv("DEEPQ_THREADS", "2")
    small_copy(trained, "few_nodules", cases=48, side=48)
    ws = dq.Workspace(trained.root)
    assert ws.datasets(task="regression").loc["few_nodules", "fits"]
    task = ws.submit(ws.spec(task="regression", dataset="few_nodules", name="diameter auto", size=1))
    assert task.wait(progress=False, timeout=900).state == "finished"
    assert {"mae", "rmse", "r2"} <= set(task.history().columns)
    assert "Predicted against true" in task.insight().document
    predictions = task.model.predict(images=["datasets/few_nodules/images/nodule_001.png"])
    assert list(predictions.columns) == ["image", "summary", "decision", "nodule diameter (mm)"]
    assert 0 < predictions["nodule diameter (mm)"].iloc[0] < 60
