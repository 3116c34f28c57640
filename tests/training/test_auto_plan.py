"""Auto plans from the dataset, and the task file of an Auto run repeats it as Full Manual."""

import numpy as np
import pytest
from PIL import Image

from deepq_widgets.contracts import EpochEvent, PlanEvent
from deepq_widgets.store import FINISHED
from tests.training.conftest import general_spec, make_spec, run_in_process

pytestmark = pytest.mark.slow


def small_images(ws, n_per_class: int = 24, side: int = 24) -> None:
    """Two classes of small grey images: a bright square on the left or on the right."""
    rng = np.random.default_rng(0)
    for label, column in (("left", slice(2, 10)), ("right", slice(14, 22))):
        folder = ws.datasets / "small" / label
        folder.mkdir(parents=True)
        for i in range(n_per_class):
            img = rng.integers(0, 60, (side, side), dtype=np.uint8)
            img[8:16, column] = 200
            Image.fromarray(img).save(folder / f"{i}.png")


def test_auto_plans_from_the_images_and_its_task_file_repeats_the_run(ws, capsys):
    small_images(ws)
    spec = make_spec(ws, capsys, "--flow", "general", "--task", "single_label", "--dataset", "small", "--name", "auto")
    assert spec["tuning"] == "auto" and spec["image_size"] > 64  # the recommendation's size is the cap
    row, store = run_in_process(ws, spec)
    assert row.state == FINISHED, f"{row.error}\n{row.traceback}"
    event = store.events(row.id, PlanEvent)[-1]
    plan, ran_as = event.plan, event.ran_as
    assert plan.image_size == 64  # 24 px images: upscaled to the floor, not to the recommended size
    assert plan.hyper.batch_size == 8  # 38 training cases: a multiple of 8 that leaves at least 4 steps an epoch
    assert any("Images are 24 px" in note for note in plan.notes)
    assert ran_as.tuning.value == "manual" and ran_as.image_size == 64 and ran_as.hyper.epochs == plan.hyper.epochs
    assert (ran_as.hyper.batch_size, ran_as.hyper.lr, ran_as.augment) == (plan.hyper.batch_size, plan.hyper.lr, plan.augment)

    assert_task_file_as_run_repeats(ws, row, store, ran_as)


def test_a_run_whose_learning_rate_came_from_the_finder_repeats_bit_for_bit(ws, capsys, monkeypatch):
    """The finder trains for a few steps and draws random numbers; none of it may leak into the run."""
    from deepq_widgets import autoplan

    monkeypatch.setattr(autoplan, "LR_FIND_MIN_ITERS", 4)  # a finder on a test-sized dataset
    monkeypatch.chdir(ws.root)  # fastai's own finder saves the weights under the current directory
    small_images(ws)
    spec = make_spec(ws, capsys, "--flow", "general", "--task", "single_label", "--dataset", "small", "--name", "finder")
    row, store = run_in_process(ws, spec)
    assert row.state == FINISHED, f"{row.error}\n{row.traceback}"
    event = store.events(row.id, PlanEvent)[-1]
    assert event.plan.lr_find_iters >= 4 and any("-step finder" in note for note in event.plan.notes)
    assert event.ran_as.hyper.lr == event.plan.hyper.lr != 1e-3
    assert not [p for p in ws.root.rglob("*") if p.suffix in (".pth", ".pt", ".pkl", ".pickle")]  # no pickle, ever
    assert_task_file_as_run_repeats(ws, row, store, event.ran_as)


def assert_task_file_as_run_repeats(ws, row, store, ran_as) -> None:
    again, store = run_in_process(ws, ran_as.model_dump(mode="json") | {"name": f"{row.name}, as run"})
    assert again.state == FINISHED, again.error
    first, second = store.events(row.id, EpochEvent), store.events(again.id, EpochEvent)
    assert [e.valid_loss for e in second] == pytest.approx([e.valid_loss for e in first], rel=1e-5, abs=1e-6)
    figures = lambda metrics: {k: v for k, v in metrics.items() if isinstance(v, float)}  # noqa: E731
    assert figures(again.metrics) == pytest.approx(figures(row.metrics), rel=1e-5, abs=1e-6)
    assert again.metrics["auroc_ci"] == pytest.approx(row.metrics["auroc_ci"], rel=1e-5)


def test_refit_trains_a_fresh_network_on_every_case_for_the_best_epoch_count(ws, capsys):
    from safetensors.torch import load_file

    from deepq_widgets.contracts import StatusEvent
    from deepq_widgets.training.checkpoint import weights_digest

    small_images(ws)
    spec = general_spec(ws, capsys, "single_label", "small", "refit", "--epochs", "3", "--image-size", "64")
    spec["hyper"] |= {"refit": True, "early_stop": False}
    row, store = run_in_process(ws, spec)
    assert row.state == FINISHED, f"{row.error}\n{row.traceback}"
    best = max(e.epoch for e in store.events(row.id, EpochEvent) if e.best) + 1
    said = [e.message for e in store.events(row.id, StatusEvent)]
    assert f"Refitting on all 48 cases for {best} epochs, the validated fit's best" in said
    evaluation = (ws.task_dir(row.id) / "evaluation.json").read_text()
    assert "validation cases that the network never trained on" in evaluation and "refit on all 48 cases" in evaluation
    registered = load_file(str(ws.model_dir(row.model_id) / "model.safetensors"))
    selected = load_file(str(ws.task_dir(row.id) / "checkpoint" / "best.safetensors"))
    assert weights_digest(registered) != weights_digest({k: v for k, v in selected.items() if k in registered})
    assert store.events(row.id, PlanEvent)[-1].ran_as.hyper.refit is True


def test_this_machines_speed_is_measured_and_kept_for_estimates(ws, capsys):
    import json

    from deepq_widgets.cli import main
    from deepq_widgets.duration import read_throughput, throughput_key

    argv = ["throughput", "--arch", "tf_efficientnet_lite0.in1k", "--size", "32", "--channels", "1", "--batch", "8"]
    assert main([*argv, "--workspace", str(ws.root)]) == 0
    speed = json.loads(capsys.readouterr().out)
    assert 0 < speed["train_img_per_s"] < speed["evaluate_img_per_s"]  # a backward pass costs more than none
    import torch

    kept = read_throughput(ws, throughput_key("tf_efficientnet_lite0.in1k", 32, 1, 8, threads=torch.get_num_threads()))
    assert kept is not None and kept.train == speed["train_img_per_s"]
