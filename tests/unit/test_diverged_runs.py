"""A loss that is NaN or infinite: stored and read back as it is (the task's views stay readable), and a fit
whose training loss stops being finite ends with a clear error instead of training on."""

import json
import math
import subprocess
import sys

import pytest

from deepq_widgets.contracts import EarlyStopEvent, EpochEvent, Metrics, Progress
from deepq_widgets.spec import parse_spec
from deepq_widgets.store import Store
from deepq_widgets.training.callbacks import FitDiverged, StopOnDivergence

SPEC = {"name": "diverged", "flow": "general", "task": "single_label", "dataset": "any", "tuning": "auto"}


def test_non_finite_losses_are_stored_and_read_back(tmp_path):
    store = Store(tmp_path / "tasks.sqlite")
    task_id = store.submit(parse_spec(SPEC))
    store.claim_next(pid=1)
    nan, inf = float("nan"), float("inf")
    store.add_event(task_id, EpochEvent(epoch=0, train_loss=nan, valid_loss=inf, metrics=Metrics(), lr=0.1, seconds=1.0, best=False))
    store.add_event(task_id, EarlyStopEvent(epoch=0, patience=3, best_loss=inf))
    store.update_progress(task_id, Progress(epoch=1, metrics={"auroc": nan}))
    epoch = store.events(task_id, EpochEvent)[0]
    assert math.isnan(epoch.train_loss) and epoch.valid_loss == inf
    assert store.events(task_id, EarlyStopEvent)[0].best_loss == inf
    assert store.task(task_id).epoch == 1 and len(store.tasks()) == 1


def test_the_task_list_as_json_stays_readable_with_a_nan_loss(demo_copy):

    store = Store(demo_copy.db_path)
    task_id = store.submit(parse_spec({**SPEC, "dataset": "ultrasound_lesions"}))
    store.claim_next(pid=1)
    store.add_event(
        task_id, EpochEvent(epoch=0, train_loss=float("nan"), valid_loss=1.0, metrics=Metrics(), lr=0.1, seconds=1.0, best=False)
    )
    listed = subprocess.run(
        [sys.executable, "-m", "deepq_widgets.cli", "tasks", "--json", "--workspace", str(demo_copy.root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert [t["name"] for t in json.loads(listed.stdout)] == ["diverged"]


class _Learner:
    def __init__(self, loss: float):
        import torch

        self.loss, self.training, self.epoch, self.iter, self.lr = torch.tensor(loss), True, 2, 5, 1.0
        self.opt = type("Opt", (), {"hypers": [{"lr": 1.0}]})()


@pytest.mark.parametrize("loss", [float("nan"), float("inf")])
def test_a_training_loss_that_is_not_finite_stops_the_fit_with_the_reason(loss):
    callback = StopOnDivergence()
    callback.learn = _Learner(loss)
    with pytest.raises(FitDiverged, match=r"epoch 3, batch 6.*learning rate 1"):
        callback.after_loss()
    callback.learn = _Learner(0.7)
    callback.after_loss()  # a finite loss trains on
