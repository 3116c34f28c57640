"""A k-fold ensemble: every case scored out of fold, the registered model the average of its members,
a stopped task resumed at the member it was training."""

from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

from deepq_widgets.contracts import EpochEvent, Evaluation, StatusEvent
from deepq_widgets.spec import parse_spec
from deepq_widgets.store import FINISHED, STOPPED
from tests.training.conftest import general_spec, run_in_process

K, PER_CLASS = 3, 24


def noisy_squares(ws) -> None:
    """Two classes told apart by a faint square in heavy noise: hard enough that which network scores a case matters."""
    rng = np.random.default_rng(1)
    for label, column in (("left", slice(2, 10)), ("right", slice(14, 22))):
        folder = ws.datasets / "noisy" / label
        folder.mkdir(parents=True)
        for i in range(PER_CLASS):
            img = rng.integers(0, 160, (24, 24)).astype(np.uint8)
            img[8:16, column] = np.clip(img[8:16, column].astype(int) + 40, 0, 255).astype(np.uint8)
            Image.fromarray(img).save(folder / f"{i}.png")


def folds_spec(ws, capsys, name: str) -> dict:
    spec = general_spec(ws, capsys, "single_label", "noisy", name, "--epochs", "3", "--image-size", "64")
    spec["hyper"] |= {"folds": K, "early_stop": False, "batch_size": 8}
    return spec


def probabilities(model: torch.nn.Module, card, files: list[str]) -> np.ndarray:
    """The product's preprocessing of each file, then the network's class probabilities."""
    from deepq_widgets.data.preprocess import read_network_pixels
    from deepq_widgets.training.loaders import normalise, to_unit

    x = np.stack([read_network_pixels(f, card.windows, card.channels, card.image_size) for f in files])
    with torch.no_grad():
        return model.eval()(normalise(to_unit(torch.from_numpy(x)), card.mean, card.std)).softmax(1).numpy()


def test_an_ensemble_scores_every_case_out_of_fold_and_registers_the_average(ws, capsys):
    from deepq_widgets.calibration import tempered
    from deepq_widgets.training.ensemble import Ensemble
    from deepq_widgets.training.registry import load_model

    noisy_squares(ws)
    row, store = run_in_process(ws, folds_spec(ws, capsys, "folds"))
    assert row.state == FINISHED, f"{row.error}\n{row.traceback}"
    said = [e.message for e in store.events(row.id, StatusEvent)]
    best = max(e.epoch for e in store.events(row.id, EpochEvent) if e.best) + 1  # the validated fit's choice
    assert f"Ensemble member 2 of {K}: {best} epoch{'s' * (best > 1)} on 32 cases, scored on the 16 left out" in said
    assert any(m.startswith(f"Ensemble member {K} of {K}") for m in said)

    evaluation = Evaluation.model_validate_json((ws.task_dir(row.id) / "evaluation.json").read_text())
    assert len(evaluation.cases) == len(set(evaluation.cases)) == 2 * PER_CLASS  # every case once
    assert "out of fold" in evaluation.source and f"{K}-fold ensemble" in evaluation.source
    assert row.metrics["cases"] == 2 * PER_CLASS

    model, card = load_model(ws, row.model_id, calibrated=False)  # the members' own probabilities, averaged
    assert card.members == K and isinstance(model, Ensemble) and len(model.members) == K
    files = evaluation.cases
    truth = np.array([f.split(os.sep)[-2] == "right" for f in files])
    # Out of fold: the cases in the order evaluated, fold by fold, each scored by its own member.
    parts = np.array_split(np.arange(len(files)), K)
    oof = np.concatenate([probabilities(model.members[i], card, [files[j] for j in part])[:, 1] for i, part in enumerate(parts)])
    assert evaluation.metrics.headline["auroc"] == pytest.approx(roc_auc_score(truth, oof), abs=1e-3)
    seen = probabilities(model, card, files)[:, 1]  # the ensemble has trained on every case
    assert roc_auc_score(truth, seen) != pytest.approx(roc_auc_score(truth, oof), abs=1e-3)
    # The registered model is the average of its members' probabilities.
    members = np.mean([probabilities(m, card, files[:8]) for m in model.members], axis=0)
    assert probabilities(model, card, files[:8]) == pytest.approx(members, abs=1e-5)
    calibrated, with_temperature = load_model(ws, row.model_id)  # predict's: that average with the temperature, if one was kept
    expected = tempered(members, with_temperature.temperature, "softmax") if with_temperature.temperature else members
    assert probabilities(calibrated, with_temperature, files[:8]) == pytest.approx(expected, abs=1e-4)

    # Listed as an ensemble; not offered for retraining (one network is fine-tuned there), and refused if named.
    from deepq_widgets.cli import main
    from deepq_widgets.context import workspace_context

    assert main(["models", "--workspace", str(ws.root), "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["members"] == K and listed["network"] == f"{K} × tf_efficientnet_lite0.in1k (ensemble)"
    assert row.model_id not in workspace_context(ws).base_models()
    retrain = {"name": "again", "flow": "retrain", "dataset": "noisy", "model": {"base_model": row.model_id}, "task": "single_label"}
    again, _ = run_in_process(ws, retrain)
    assert again.state == "error" and f"{row.model_id} is an ensemble of {K} networks" in again.error


def test_a_stopped_ensemble_resumes_at_the_member_it_was_training(ws, capsys):
    from deepq_widgets.store import Store
    from deepq_widgets.training.runner import run_task

    noisy_squares(ws)
    store = Store(ws.db_path)

    def stop_at_the_last_member(task_id: int) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if any(e.message.startswith(f"Ensemble member {K} of") for e in store.events(task_id, StatusEvent)):
                store.request_stop(task_id)
                return
            time.sleep(0.05)

    task_id = store.submit(parse_spec(folds_spec(ws, capsys, "stopped")))
    watcher = threading.Thread(target=stop_at_the_last_member, args=(task_id,))
    watcher.start()
    run_task(ws, store, store.claim_next(os.getpid()))
    watcher.join()
    assert store.task(task_id).state == STOPPED
    member = ws.task_dir(task_id) / "members" / "1.safetensors"
    assert member.is_file() and not (ws.task_dir(task_id) / "members" / "2.safetensors").exists()
    trained = member.stat().st_mtime_ns
    before = len(store.events(task_id, StatusEvent))

    store.requeue(task_id)
    run_task(ws, store, store.claim_next(os.getpid()))
    row = store.task(task_id)
    assert row.state == FINISHED, f"{row.error}\n{row.traceback}"
    again = [e.message for e in store.events(task_id, StatusEvent)[before:]]
    assert not any(m.startswith("Ensemble member 2 of") for m in again)  # kept from the first run
    assert any(m.startswith(f"Ensemble member {K} of") for m in again)
    assert member.stat().st_mtime_ns == trained
    from deepq_widgets.training.registry import load_model

    assert load_model(ws, row.model_id)[1].members == K


def test_an_ensemble_exports_predicts_with_heatmaps_and_evaluates_like_one_network(ws, capsys):
    import onnxruntime

    from deepq_widgets.training.dataset_evaluation import evaluate_dataset
    from deepq_widgets.training.export import export_model, predict, preprocess
    from deepq_widgets.training.registry import load_model

    noisy_squares(ws)
    row, _ = run_in_process(ws, folds_spec(ws, capsys, "shipped"))
    assert row.state == FINISHED, f"{row.error}\n{row.traceback}"
    model, card = load_model(ws, row.model_id)
    image = sorted((ws.datasets / "noisy" / "left").glob("*.png"))[0]
    x = preprocess(image, card)
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    session = onnxruntime.InferenceSession(str(export_model(ws, row.model_id, "onnx", "exports")), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"image": x.numpy()})[0], expected, atol=1e-4)
    script = torch.jit.load(str(export_model(ws, row.model_id, "torchscript", "exports")))
    np.testing.assert_allclose(script(x).detach().numpy(), expected, atol=1e-5)

    (said,) = predict(ws, row.model_id, [image], heatmaps=True)
    assert said.prediction.values["right"] == pytest.approx(float(torch.from_numpy(expected).softmax(1)[0, 1]), abs=1e-5)
    assert said.heatmap.shape == (64, 64) and said.heatmap.min() >= 0 and said.heatmap.max() <= 1

    scored = evaluate_dataset(ws, row.model_id, "noisy", include_seen=True)  # the cases it trained on: said so, scored all the same
    assert scored.metrics.cases == 2 * PER_CLASS and scored.overlap
