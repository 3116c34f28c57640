"""Every task kind and every preset learns its demo data clearly above chance."""

import json

import pytest

from deepq_widgets.contracts import DataEvent, EpochEvent, ModelEvent, PlanEvent, SearchTrialEvent
from deepq_widgets.store import FINISHED
from tests.training.conftest import general_spec, make_spec, run_in_process

pytestmark = pytest.mark.slow

FAST = {"hyper__epochs": 8, "hyper__early_stop": False, "hyper__batch_size": 16, "image_size": 96}


def finished(row):
    assert row.state == FINISHED, f"{row.error}\n{row.traceback}"
    return row.metrics


def test_single_label_class_folders(demo_copy, capsys):
    spec = general_spec(
        demo_copy,
        capsys,
        "single_label",
        "ultrasound_lesions",
        "us",
        **FAST,
        hyper__lr=2e-3,
    )
    metrics = finished(run_in_process(demo_copy, spec)[0])
    assert metrics["accuracy"] > 0.8 and metrics["auroc"] > 0.9  # chance: 0.33 and 0.5


def test_multi_label_csv(demo_copy, capsys):
    spec = general_spec(
        demo_copy,
        capsys,
        "multi_label",
        "fundus_findings",
        "fundus",
        **FAST,
        hyper__lr=2e-3,
    )
    row, _store = run_in_process(demo_copy, spec)
    metrics = finished(row)
    assert metrics["auroc"] > 0.8 and all(metrics[f"auroc_{c}"] > 0.7 for c in ("hemorrhage", "exudate", "cotton_wool"))
    report = json.loads((demo_copy.tasks / str(row.id) / "evaluation.json").read_text())
    assert len(report["thresholds"]) == 3 and report["per_class"][-1]["class"] == "average"


def test_segmentation_masks(demo_copy, capsys):
    spec = general_spec(
        demo_copy,
        capsys,
        "segmentation",
        "abdomen_organs",
        "organs",
        **FAST,
        hyper__lr=3e-3,
    )
    metrics = finished(run_in_process(demo_copy, spec)[0])
    assert metrics["dice"] > 0.7 and metrics["dice_kidney"] > 0.5


def test_detection_csv(demo_copy, capsys):
    spec = general_spec(
        demo_copy,
        capsys,
        "detection",
        "lung_nodules",
        "nodules",
        **FAST | {"hyper__epochs": 12, "image_size": 128},
        hyper__lr=2e-3,
    )
    row, store = run_in_process(demo_copy, spec)
    metrics = finished(row)
    assert metrics["map50"] > 0.4
    stats = next(e for e in store.events(row.id, DataEvent))
    assert stats.statistics.kind["boxes"]["count"] > 50


# Studies: 32 training studies of 24 slices at 96 px, 8 steps an epoch of 4 studies x 8 slices. The head CT demo's
# bleeds show at this size; the chest CT demo's emboli (a few pixels in a vessel) need the preset's size and 60
# studies (benchmarks/studies.py), far beyond a test: on 32 studies at 128 px its validation AUROC swung between
# 0.4 and 0.9 from epoch to epoch, so the study kind's learning is checked here on head CT, both ways.
STUDIES = {"hyper__batch_size": 4, "hyper__slices": 8, "hyper__epochs": 6, "image_size": 96}


@pytest.mark.parametrize(
    "preset, dataset, key, floor, settings",
    [
        ("pneumothorax", "chest_xray_pneumothorax", "auroc", 0.8, {}),
        ("intracranial_hemorrhage", "head_ct_studies", "auroc", 0.75, STUDIES),  # the preset: 2.5D on slice labels
        ("intracranial_hemorrhage", "head_ct_studies", "auroc", 0.75, STUDIES | {"hyper__study_model": "attention", "hyper__lr": 2e-3}),
    ],
    ids=["pneumothorax", "hemorrhage-2.5d", "hemorrhage-attention-mil"],
)
def test_presets_learn_with_offline_weights(demo_copy, capsys, preset, dataset, key, floor, settings):
    spec = make_spec(
        demo_copy,
        capsys,
        "--flow",
        "specialized",
        "--preset",
        preset,
        "--dataset",
        dataset,
        "--tuning",
        "manual",
        "--name",
        preset,
        **FAST | {"image_size": 128, "hyper__epochs": 10} | settings,
    )
    row, store = run_in_process(demo_copy, spec)
    metrics = finished(row)
    assert metrics[key] > floor, metrics
    data = next(e for e in store.events(row.id, DataEvent))
    assert data.statistics.grouped_by == "patient"  # slices of a study never straddle the split


def searched_run(ws, capsys, method: str, trials: int, epochs: int):
    """A small ultrasound task with a hyperparameter search, run to its end."""
    spec = general_spec(
        ws,
        capsys,
        "single_label",
        "ultrasound_lesions",
        f"search {method}",
        "--search",
        method,
        "--trials",
        str(trials),
        **FAST | {"hyper__epochs": epochs, "image_size": 64},
    )
    row, store = run_in_process(ws, spec)
    finished(row)
    return row, store


def test_random_search_runs_optuna_trials(demo_copy, capsys):
    row, store = searched_run(demo_copy, capsys, "random", trials=3, epochs=4)
    trials = store.events(row.id, SearchTrialEvent)
    assert len(trials) == 3 and len({t.params["lr"] for t in trials}) == 3
    plan = next(e for e in store.events(row.id, PlanEvent))
    chosen = min((t for t in trials if not t.pruned), key=lambda t: t.valid_loss).params
    assert plan.plan.hyper.lr == chosen["lr"] and any("Search" in n for n in plan.plan.notes)


def test_population_based_training_continues_from_the_winner(demo_copy, capsys):
    row, store = searched_run(demo_copy, capsys, "pbt", trials=4, epochs=6)
    reports = store.events(row.id, SearchTrialEvent)
    assert len(reports) == 4 * 2 and {r.round for r in reports} == {0, 1}
    copied = [r for r in reports if r.history]
    assert len(copied) == 1 and copied[0].round == 1  # the worst of four took the best one's weights
    last = [r for r in reports if r.round == 1]
    winner = min(last, key=lambda r: r.valid_loss)
    plan = next(e for e in store.events(row.id, PlanEvent))
    assert plan.plan.hyper.epochs == 6 - 2 and plan.plan.hyper.lr == winner.params["lr"]
    assert "Population-based" in " ".join(plan.plan.notes)
    assert "winner" in next(e for e in store.events(row.id, ModelEvent)).source
    assert len(store.events(row.id, EpochEvent)) == 4
    folder = demo_copy.task_dir(row.id)
    assert (folder / "search_winner.safetensors").is_file() and not (folder / "population").exists()
