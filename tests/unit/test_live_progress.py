"""The live progress of a fit only grows: validation comes after the epoch's training, so it must not take
the bar back to the epoch's start (the monitor and `deepq run` jumped from 25% to 12% at every validation)."""

import torch
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from torch.utils.data import TensorDataset

from deepq_widgets.training import callbacks
from deepq_widgets.training.callbacks import ComputeClock, LiveProgress
from deepq_widgets.training.sink import QuietSink


class RecordingSink(QuietSink):
    def __init__(self):
        super().__init__(task_id=1)
        self.reported = []

    def progress(self, progress):
        self.reported.append(progress.progress)


def test_progress_never_steps_back_through_training_and_validation(monkeypatch):
    monkeypatch.setattr(callbacks, "HEARTBEAT_S", 0.0)  # a report after every batch
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    dls = DataLoaders.from_dsets(TensorDataset(x, y), TensorDataset(x[:32], y[:32]), bs=8, device="cpu")
    sink = RecordingSink()
    learn = Learner(dls, torch.nn.Linear(4, 2), loss_func=torch.nn.CrossEntropyLoss(), cbs=[LiveProgress(sink, 3, ComputeClock())])
    with learn.no_logging(), learn.no_bar():
        learn.fit(3, 1e-2)
    assert len(sink.reported) == 3 * (8 + 4)  # every batch of both phases, three epochs
    assert sink.reported == sorted(sink.reported) and sink.reported[-1] == 1.0
