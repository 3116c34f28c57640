"""Registry: safetensors plus JSON, loaded without unpickling; retraining starts from the exact weights."""

import json
import shutil

import pytest
from safetensors.torch import load_file

from deepq_widgets.contracts import ModelEvent
from deepq_widgets.store import FINISHED
from deepq_widgets.training.checkpoint import weights_digest
from deepq_widgets.training.registry import load_model, read_card
from tests.training.conftest import general_spec, make_spec, run_in_process

pytestmark = pytest.mark.slow


def test_finished_task_registers_and_retrain_starts_from_its_weights(demo_copy, capsys):
    spec = general_spec(
        demo_copy,
        capsys,
        "single_label",
        "ultrasound_lesions",
        "base",
        hyper__epochs=2,
        image_size=64,
        hyper__early_stop=False,
    )
    row, store = run_in_process(demo_copy, spec)
    assert row.state == FINISHED, row.error
    folder = demo_copy.models / row.model_id
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "model.safetensors", "training_cases.json"]
    card = read_card(demo_copy, row.model_id).model_dump()
    for key in (
        "arch",
        "task",
        "classes",
        "image_size",
        "channels",
        "windows",
        "mean",
        "std",
        "metrics",
        "source_task",
        "dataset",
        "dataset_fingerprint",
    ):
        assert key in card, key
    model, _ = load_model(demo_copy, row.model_id, calibrated=False)  # the network as stored (no temperature around it)
    saved = load_file(str(folder / "model.safetensors"))
    assert weights_digest({k: v for k, v in model.state_dict().items() if k in saved}) == weights_digest(saved)

    # A new dataset of the same annotation type and classes: a smaller copy.
    src, dst = demo_copy.datasets / "ultrasound_lesions", demo_copy.datasets / "ultrasound_more"
    for label in ("benign", "malignant", "normal"):
        (dst / label).mkdir(parents=True)
        for path in sorted((src / label).glob("*.png"))[:15]:
            shutil.copy(path, dst / label / path.name)
    retrain = make_spec(
        demo_copy,
        capsys,
        "--flow",
        "retrain",
        "--model",
        row.model_id,
        "--dataset",
        "ultrasound_more",
        "--tuning",
        "manual",
        "--name",
        "again",
        hyper__epochs=1,
        hyper__early_stop=False,
    )
    assert retrain["model"]["arch"] == card["arch"] and retrain["image_size"] == card["image_size"]
    row2, store = run_in_process(demo_copy, retrain)
    assert row2.state == FINISHED, row2.error
    start = next(e for e in store.events(row2.id, ModelEvent))
    assert start.source == f"registry:{row.model_id}" and start.weights_sha256 == weights_digest(saved)
    card2 = read_card(demo_copy, row2.model_id).model_dump()
    assert card2["base_model"] == row.model_id and card2["classes"] == card["classes"] and card2["dataset"] == "ultrasound_more"
    assert json.loads((demo_copy.models / row2.model_id / "model.json").read_text())["format"] == "safetensors+json"
