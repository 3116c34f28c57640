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
