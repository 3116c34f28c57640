"""Export (safetensors+JSON, TorchScript, ONNX) and prediction with heatmaps on a trained model."""

import json

import numpy as np
import pytest
import torch

from deepq_widgets.cli import main
from deepq_widgets.training.export import export_model, predict, preprocess
from deepq_widgets.training.registry import load_model
from tests.training.conftest import general_spec, run_in_process

pytestmark = pytest.mark.slow


@pytest.fixture
def trained(demo_copy, capsys):
    spec = general_spec(demo_copy, capsys, "single_label", "ultrasound_lesions", "export me", hyper__epochs=2, image_size=64)
    row, _ = run_in_process(demo_copy, spec)
    assert row.state == "finished", row.error
    return demo_copy, row.model_id


def test_onnx_and_torchscript_give_the_same_logits(trained):
    import onnxruntime

    ws, model_id = trained
    model, card = load_model(ws, model_id)
    model.eval()
    image = next((ws.datasets / "ultrasound_lesions" / "malignant").glob("*.png"))
    x = preprocess(image, card)
    with torch.no_grad():
        expected = model(x).numpy()
    onnx_path = export_model(ws, model_id, "onnx", "exports")
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"image": np.repeat(x.numpy(), 2, 0)})[0][:1], expected, atol=1e-4)
    script = torch.jit.load(str(export_model(ws, model_id, "torchscript", "exports")))
    np.testing.assert_allclose(script(x).detach().numpy(), expected, atol=1e-5)
    weights = export_model(ws, model_id, "safetensors", "exports")
    assert weights.read_bytes() == (ws.models / model_id / "model.safetensors").read_bytes()
    assert json.loads((weights.parent / f"{model_id}.json").read_text())["classes"] == card.classes
    with pytest.raises(ValueError, match="outside the workspace"):
        export_model(ws, model_id, "onnx", "/tmp/elsewhere")


def test_predict_scores_and_heatmaps(trained, capsys):
    ws, model_id = trained
    images = sorted((ws.datasets / "ultrasound_lesions" / "benign").glob("*.png"))[:2]
    results = predict(ws, model_id, images, heatmaps=True)
    for r in results:
        assert sum(r.prediction.values.values()) == pytest.approx(1.0, abs=1e-5)
        assert r.prediction.decision in r.prediction.values and r.prediction.summary.endswith(f"→ {r.prediction.decision}")
        assert r.heatmap.shape == (64, 64) and r.heatmap.min() >= 0 and r.heatmap.max() <= 1
    assert main(["predict", "--workspace", str(ws.root), model_id, "--dataset", "ultrasound_lesions", "--heatmaps", "heat"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out) == 120 and len(list((ws.root / "heat").glob("*.heatmap.png"))) == 120
    assert all((ws.root / r["heatmap_file"]).is_file() for r in out)  # each row names its own heatmap
    assert main(["models", "--workspace", str(ws.root), "--json"]) == 0
    (listed,) = [m["inferences"] for m in json.loads(capsys.readouterr().out) if m["id"] == model_id]
    assert [(r["dataset"], r["images"]) for r in listed] == [("ultrasound_lesions", 120)]  # kept in the model's inference list


def test_prediction_feeds_the_network_the_tensor_training_saw(trained):
    """One preprocessing function: predict on a training image sees exactly the training input (before augmentation)."""
    from deepq_widgets.data.cache import build_cache
    from deepq_widgets.data.catalog import scan_dataset
    from deepq_widgets.training.loaders import BatchLoader

    ws, model_id = trained
    _, card = load_model(ws, model_id)
    data = build_cache(scan_dataset(ws, card.dataset), ws.root / "cache", card.image_size, card.windows, channels=card.channels)
    loader = BatchLoader(data, range(len(data.cases)), lambda *_: (), 4, card.mean, card.std)
    for i in (0, len(data.cases) // 2, len(data.cases) - 1):
        (x,) = loader.batch(np.array([i]))
        assert torch.equal(preprocess(data.cases[i].image, card), x)


def test_the_temperature_is_applied_by_predict_and_export_and_can_be_switched_off(trained):
    import onnxruntime

    from deepq_widgets.calibration import tempered, tempered_threshold
    from deepq_widgets.contracts import Evaluation
    from deepq_widgets.evaluations import read_card

    ws, model_id = trained
    raw_model, _ = load_model(ws, model_id, calibrated=False)
    card = read_card(ws, model_id)
    found = Evaluation.model_validate_json((ws.task_dir(card.source_task) / "evaluation.json").read_text()).calibration
    assert found is not None and 0 <= found.ece <= 1 and found.ece_interval[0] <= found.ece <= found.ece_interval[1]
    assert card.temperature == found.temperature  # the task's evaluation decides whether the model has one
    moved = [tempered_threshold(t, 2.0) for t in card.thresholds] if card.thresholds else None  # three classes: argmax, none
    hot = card.model_copy(update={"temperature": 2.0, "thresholds": moved})
    (ws.models / model_id / "model.json").write_text(hot.model_dump_json(by_alias=True))
    images = sorted((ws.datasets / "ultrasound_lesions" / "malignant").glob("*.png"))[:4]
    calibrated = [s.prediction for s in predict(ws, model_id, images)]
    own = [s.prediction for s in predict(ws, model_id, images, calibrated=False)]
    for cal, raw in zip(calibrated, own, strict=True):
        probs = np.array([list(raw.values.values())])
        assert list(cal.values.values()) == pytest.approx(tempered(probs, 2.0, "softmax")[0].tolist(), abs=1e-5)
        assert cal.decision == raw.decision  # the operating point moved with the probabilities
    x = preprocess(images[0], card)
    with torch.no_grad():
        logits = raw_model.eval()(x).numpy()
    for calibrated_export, divisor in ((True, 2.0), (False, 1.0)):
        path = export_model(ws, model_id, "onnx", f"exports-{calibrated_export}", calibrated=calibrated_export)
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        np.testing.assert_allclose(session.run(None, {"image": x.numpy()})[0], logits / divisor, atol=1e-4)
        written = json.loads((path.parent / f"{model_id}.json").read_text())
        assert written["temperature"] == (2.0 if calibrated_export else None)  # the card beside it says which
