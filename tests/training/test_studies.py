"""Study classification end to end on the demo's study-labelled CT series: a real fit on slices pooled per study,
figures per study, slice score curves, predict on a study folder, and export with a free slice axis."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deepq_widgets.cli import main
from deepq_widgets.contracts import DataEvent, EpochEvent, PlanEvent
from deepq_widgets.report import load_evaluation

from .conftest import run_in_process, spec_json


@pytest.fixture(scope="module")
def trained(demo_root, tmp_path_factory):
    """One short study-level run (max pooling, 6 slices a step) on a copy of the demo workspace: (workspace, task
    row, store), shared by the tests below."""
    import shutil

    from deepq_widgets.workspace import WorkspacePaths

    root = tmp_path_factory.mktemp("studies") / "ws"
    shutil.copytree(demo_root, root)
    ws = WorkspacePaths(root)
    argv = ["--tuning", "manual", "--image-size", "64", "--epochs", "2", "--batch-size", "4", "--slices", "6", "--study-model", "max"]
    spec = spec_json(ws, ["--flow", "general", "--task", "study_label", "--dataset", "chest_cta_embolism", *argv])
    row, store = run_in_process(ws, spec)
    assert row.state == "finished", row.error
    return ws, row, store


def test_a_study_model_trains_on_studies_and_reports_per_study(trained):
    ws, row, store = trained
    statistics = store.events(row.id, DataEvent)[-1].statistics
    assert statistics.train + statistics.valid == 40 and statistics.grouped_by == "patient"
    assert statistics.kind == {"studies": 40, "slices": [24, 24, 24], "thickness_mm": 5.0, "spacing_mm": 5.0, "slice_labelled": 0}
    plan = store.events(row.id, PlanEvent)[-1].plan
    assert plan.hyper.slices == 6 and plan.hyper.study_model.value == "max"

    evaluation = load_evaluation(ws.task_dir(row.id))
    assert evaluation.slice_level is None  # no slice labels
    assert len(evaluation.cases) == statistics.valid and all("/chest_cta_embolism/PE-" in c for c in evaluation.cases)
    assert evaluation.metrics.cases == statistics.valid and "auroc" in evaluation.metrics.intervals
    assert 1 <= len(evaluation.charts) <= 3
    curve = evaluation.charts[0]
    assert curve.x_label.startswith("slice") and len(curve.series[0].y) == 24  # every slice (up to 64) is scored
    assert all(0.0 <= v <= 1.0 for s in curve.series for v in s.y)
    shown = {i for g in evaluation.gallery.values() for i in [*g.tp, *g.fp, *g.fn]}
    assert set(evaluation.key_slices) == shown and all(len(w) == 3 and all(0 < f < 1 for f in w) for w in evaluation.key_slices.values())

    from deepq_widgets.report import gallery_html, key_strip

    first = next(picked[0] for g in evaluation.gallery.values() for picked in (g.tp, g.fp, g.fn) if picked)
    strip = key_strip(evaluation.cases[first], evaluation.key_slices[first])
    assert strip.startswith("data:image/png") and strip in gallery_html(evaluation)  # a gallery study shows its telling slices

    from deepq_widgets.training.registry import load_model

    model, card = load_model(ws, row.model_id)
    assert card.task == "study_label" and float(model.max_pooling) == 1.0  # the pooling travels in the weights


def test_predict_on_a_study_folder_gives_a_score_per_slice(trained, capsys):
    ws, model_id = trained[0], trained[1].model_id
    folder = ws.datasets / "chest_cta_embolism" / "PE-0000"
    out = ws.root / "overlays"
    assert main(["predict", "--workspace", str(ws.root), model_id, str(folder), "--heatmaps", str(out)]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["image"] == str(folder) and row["decision"] in ("PE", "normal")
    assert sorted(row["values"]) == ["PE", "normal"] and abs(sum(row["values"].values()) - 1) < 1e-5
    votes = row["slice_scores"][row["decision"]]
    assert len(votes) == 24 and len(row["slice_scores"]["weight"]) == 24
    assert len(row["key_slices"]) == 3 and votes[row["key_slices"][0]] == max(votes)
    assert (ws.root / row["heatmap_file"]).is_file()


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_keeps_the_slice_axis_free(trained, fmt, tmp_path):
    import torch

    from deepq_widgets.training.export import export_model
    from deepq_widgets.training.registry import load_model

    ws, model_id = trained[0], trained[1].model_id
    path = export_model(ws, model_id, fmt, "exports")
    model, card = load_model(ws, model_id)
    model.eval()
    study = torch.rand(1, 9, card.channels, card.image_size, card.image_size)  # not the 4 slices it was traced on
    with torch.no_grad():
        expected = model(study).numpy()
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {"study": study.numpy()})[0]
    else:
        got = torch.jit.load(str(path))(study).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)


def test_evaluating_on_a_dataset_of_studies_scores_each_study_and_refuses_or_flags_seen_ones(trained):
    from deepq_widgets.training.dataset_evaluation import EvaluationRefused, evaluate_dataset

    ws, model_id = trained[0], trained[1].model_id
    with pytest.raises(EvaluationRefused, match="every one of the 40 studies"):
        evaluate_dataset(ws, model_id, "chest_cta_embolism")  # the studies it trained on: no test at all
    found = evaluate_dataset(ws, model_id, "chest_cta_embolism", include_seen=True)
    assert found.metrics.cases == 40 and len(found.cases) == 40 and "auroc" in found.metrics.intervals
    assert any(w.startswith("40 of the 40 studies share image files") and "scored all the same" in w for w in found.overlap)


def test_scoring_encodes_slices_a_chunk_at_a_time_with_the_same_result(trained):
    """Validation and prediction hold one chunk of slices' activations, and say what one pass would."""
    import torch

    from deepq_widgets.kinds.study_label.training import ENCODE_AT_ONCE
    from deepq_widgets.training.registry import load_model

    model, card = load_model(trained[0], trained[1].model_id)
    model.eval()
    studies = torch.rand(2, ENCODE_AT_ONCE // 2 + 9, card.channels, 32, 32)  # 82 slices: two chunks
    with torch.no_grad():
        chunked = model(studies)
    whole = model(studies).detach()  # with gradients: one pass
    torch.testing.assert_close(chunked, whole, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def trained_2_5d(demo_root, tmp_path_factory):
    """One short 2.5D run on the head CT series, whose every slice is labelled: (workspace, task row, store)."""
    import shutil

    from deepq_widgets.workspace import WorkspacePaths

    root = tmp_path_factory.mktemp("slices_in_context") / "ws"
    shutil.copytree(demo_root, root)
    ws = WorkspacePaths(root)
    argv = ["--tuning", "manual", "--image-size", "64", "--epochs", "2", "--batch-size", "4", "--slices", "6"]
    spec = spec_json(ws, ["--flow", "general", "--task", "study_label", "--dataset", "head_ct_studies", *argv, "--study-model", "context"])
    spec["windows"] = ["brain", "subdural", "bone"]
    row, store = run_in_process(ws, spec)
    assert row.state == "finished", row.error
    return ws, row, store


def test_2_5d_reads_each_slice_with_its_neighbours_and_finds_the_bleeding_slices(trained_2_5d):
    from deepq_widgets.kinds.study_label.training import _stem
    from deepq_widgets.training.registry import load_model

    ws, row, store = trained_2_5d
    statistics = store.events(row.id, DataEvent)[-1].statistics
    assert statistics.kind["slice_labelled"] == 40
    plan = store.events(row.id, PlanEvent)[-1].plan
    assert plan.hyper.study_model.value == "context" and plan.hyper.context == 1
    assert not plan.hyper.early_stop and any("keeps its last epoch's weights" in n for n in plan.notes)
    assert all(e.best for e in store.events(row.id, EpochEvent))  # each epoch's weights replace the last

    model, card = load_model(ws, row.model_id)  # a fresh network widened to the weights it is given
    assert int(model.context) == 1 and _stem(model.encoder).in_channels == 3 * card.channels == 9
    assert card.classes[int(model.background)] == "normal"
    evaluation = load_evaluation(ws.task_dir(row.id))
    assert evaluation.metrics.cases == statistics.valid and evaluation.charts
    per_slice = evaluation.slice_level  # every validation slice is labelled: 24 a study
    assert per_slice is not None and per_slice.cases == 24 * statistics.valid and "auroc" in per_slice.intervals
    assert "not independent" in per_slice.warning

    from deepq_widgets.report import figures_html

    assert "Per slice: <b>" in figures_html(evaluation.metrics, "validation", per_slice)

    import io
    from contextlib import redirect_stdout

    folder = ws.datasets / "head_ct_studies" / "ICH-0000"
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["predict", "--workspace", str(ws.root), row.model_id, str(folder)]) == 0
    (said,) = json.loads(out.getvalue())
    votes, weights = said["slice_scores"][said["decision"]], said["slice_scores"]["weight"]
    assert len(votes) == 24 and weights.count(1.0) == 1 and sum(weights) == 1.0  # one slice, the least normal, calls the study
    p_normal = said["values"]["normal"]
    normal_votes = votes if said["decision"] == "normal" else [1 - v for v in votes]
    assert abs(min(normal_votes) - p_normal) < 1e-4 and normal_votes[weights.index(1.0)] == min(normal_votes)


def test_a_2_5d_network_exports_with_its_neighbours_read_inside(trained_2_5d):
    import torch

    from deepq_widgets.training.export import export_model
    from deepq_widgets.training.registry import load_model

    ws, model_id = trained_2_5d[0], trained_2_5d[1].model_id
    path = export_model(ws, model_id, "torchscript", "exports")
    model, card = load_model(ws, model_id)
    model.eval()
    study = torch.rand(1, 7, card.channels, card.image_size, card.image_size)
    with torch.no_grad():
        expected = model(study)
    torch.testing.assert_close(torch.jit.load(str(path))(study).detach(), expected, rtol=1e-3, atol=1e-4)
