"""fastai callbacks of a run, one job each, reporting through a TaskSink.

- `ValidationMetrics`: gathers validation outputs and computes the kind's metrics;
- `LossMeans`: the true mean train and validation loss of each epoch;
- `LiveProgress`: progress and heartbeat about once a second;
- `StopOnRequest`: turns the store's stop flag into `CancelFitException`;
- `StopOnDivergence`: a training loss that is NaN or infinite ends the fit with the reason (`FitDiverged`);
- `KeepBest`: the weights of the best validation loss (or the last epoch's, where the kind says so), in memory;
- `Checkpoint`: last and best weights, optimizer state and progress every epoch, as one set (on a
  background thread);
- `EpochLog`: one EpochEvent per epoch, and the epoch count, stored once that epoch's checkpoint is
  on disk (so the store never runs ahead of what `deepq resume` can continue from);
- `EarlyStop`: fastai's own early stopping, which also records why it stopped.
fastai's `SaveModelCallback` does not fit: it pickles (`torch.save`); models here are safetensors.
Epochs that a resumed run skips (fastai's SkipToEpoch) are ignored by every callback.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from fastai.callback.core import Callback, CancelFitException
from fastai.callback.tracker import EarlyStoppingCallback

from ..contracts import CheckpointInfo, EarlyStopEvent, EpochEvent, Metrics, Progress
from .checkpoint import BackgroundWriter, model_state, save_checkpoint, snapshot
from .kind_training import Accumulator
from .run_types import TaskCannotRun
from .sink import TaskSink

HEARTBEAT_S = 1.0


class ResumableCallback(Callback):
    """Knows the first epoch this fit really trains (later than 0 when resumed)."""

    def __init__(self, start_epoch: int = 0):
        self.start_epoch = start_epoch

    def skipped(self) -> bool:
        return self.learn.epoch < self.start_epoch


class ValidationMetrics(Callback):
    order = 55

    def __init__(self, accumulator: Accumulator):
        self.accumulator, self.value = accumulator, Metrics()

    def before_validate(self) -> None:
        self.accumulator.reset()

    def after_batch(self) -> None:
        if not self.training and self.learn.loss is not None:
            self.accumulator.add(self.learn.pred, self.learn.yb)

    def after_validate(self) -> None:
        self.value = self.accumulator.metrics()


class LossMeans(Callback):
    order = 55

    def before_epoch(self) -> None:
        self.sums = {"train": [0.0, 0], "valid": [0.0, 0]}

    def after_batch(self) -> None:
        if self.learn.loss is None:
            return
        side = self.sums["train" if self.training else "valid"]
        side[0] += float(self.learn.loss.detach()) * int(self.learn.xb[0].shape[0])
        side[1] += int(self.learn.xb[0].shape[0])

    def mean(self, side: str) -> float:
        total, count = self.sums[side]
        return total / max(count, 1)


class ComputeClock(Callback):
    """Compute time of the task across resumes: what it had before, plus this fit's."""

    order = 0

    def __init__(self, before_s: float = 0.0, clock: Callable[[], float] = time.perf_counter):
        self.before_s, self.clock, self.t_fit = before_s, clock, clock()

    def before_fit(self) -> None:
        self.t_fit = self.clock()

    def seconds(self) -> float:
        return self.before_s + self.clock() - self.t_fit


class LiveProgress(Callback):
    order = 60

    def __init__(self, sink: TaskSink, epochs: int, clock: ComputeClock):
        self.sink, self.epochs, self.compute = sink, epochs, clock
        self.last = 0.0

    def after_batch(self) -> None:
        now = self.compute.clock()
        if now - self.last < HEARTBEAT_S:
            return
        self.last = now
        # validation comes after the epoch's training: counted as done, so the bar never steps back
        done = self.learn.epoch + ((self.learn.iter + 1) / max(self.learn.n_iter, 1) if self.training else 1.0)
        self.sink.progress(Progress(progress=min(done / self.epochs, 1.0), compute_s=self.compute.seconds()))  # the epoch count: EpochLog


class StopOnRequest(Callback):
    order = 60

    def __init__(self, stop_requested: Callable[[], bool], every_s: float = HEARTBEAT_S):
        self.stop_requested, self.every_s = stop_requested, every_s
        self.requested, self.last = False, 0.0

    def after_batch(self) -> None:
        now = time.perf_counter()
        if now - self.last < self.every_s:
            return
        self.last = now
        if self.stop_requested():
            self.requested = True
            raise CancelFitException()


class FitDiverged(TaskCannotRun):
    """The training loss stopped being a number: every later step would train on NaN weights."""


class StopOnDivergence(Callback):
    """Ends the fit at the first training batch whose loss is NaN or infinite, saying where and at which
    learning rate, rather than training on (fastai's TerminateOnNaNCallback ends it silently, as if it had
    finished). In a data-parallel fit the rank that sees it ends, and the group with it."""

    order = 0

    def after_loss(self) -> None:
        if not self.training:
            return
        loss = float(self.learn.loss.detach())
        if math.isfinite(loss):
            return
        lr = self.learn.opt.hypers[-1]["lr"]
        raise FitDiverged(
            f"the fit diverged: the training loss became {loss} at epoch {self.learn.epoch + 1}, batch {self.learn.iter + 1} "
            f"(learning rate {lr:.2g}). Lower the learning rate (Auto finds one), or look for images with extreme values "
            "or wrong labels; the last checkpoint before it is kept."
        )


class KeepBest(ResumableCallback):
    """Lowest mean validation loss wins (`last`: every epoch does, for a plan that keeps its last weights); its
    weights stay in memory (the checkpoint set keeps them on disk)."""

    order = 61

    def __init__(self, best_loss: float = float("inf"), start_epoch: int = 0, last: bool = False):
        super().__init__(start_epoch)
        self.best_loss, self.last = best_loss, last
        self.state: dict[str, torch.Tensor] | None = None
        self.improved = False

    def after_epoch(self) -> None:
        if self.skipped():
            return
        loss = self.learn.loss_means.mean("valid")
        self.improved = self.last or loss < self.best_loss
        if self.improved:
            self.best_loss = loss
            self.state = model_state(self.learn.model)


class Checkpoint(ResumableCallback):
    """The set `deepq resume` continues from, written every epoch; then what waited for it (`when_saved`)."""

    order = 62

    def __init__(self, folder: Path, clock: ComputeClock, start_epoch: int = 0, dataset: str = ""):
        super().__init__(start_epoch)
        self.folder, self.compute, self.dataset = folder, clock, dataset
        self.writer = BackgroundWriter()
        self.waiting: list[Callable[[], None]] = []

    def when_saved(self, report: Callable[[], None]) -> None:
        """Run `report` once this epoch's set is on disk."""
        self.waiting.append(report)

    def after_epoch(self) -> None:
        if self.skipped():
            return
        keep_best = self.learn.keep_best
        best = keep_best.state if keep_best.improved else None
        weights, optim, plain = snapshot(self.learn.model, self.learn.opt, best)
        info = CheckpointInfo(epoch=self.learn.epoch, best_loss=keep_best.best_loss, compute_s=self.compute.seconds(), dataset=self.dataset)
        reports, self.waiting = self.waiting, []

        def job() -> None:
            save_checkpoint(self.folder, weights, optim, plain, info, best)
            for report in reports:
                report()

        self.writer.submit(job)

    def after_fit(self) -> None:
        self.writer.flush()


class EpochLog(ResumableCallback):
    order = 61.5  # after KeepBest (whether the epoch improved), before Checkpoint (which stores this after its set)

    def __init__(self, sink: TaskSink, epochs: int, clock: ComputeClock, start_epoch: int = 0):
        super().__init__(start_epoch)
        self.sink, self.epochs, self.compute = sink, epochs, clock

    def before_epoch(self) -> None:
        self.t_epoch = self.compute.clock()

    def after_epoch(self) -> None:
        if self.skipped():
            return
        epoch, metrics = self.learn.epoch, self.learn.validation_metrics.value
        event = EpochEvent(
            epoch=epoch,
            train_loss=self.learn.loss_means.mean("train"),
            valid_loss=self.learn.loss_means.mean("valid"),
            metrics=metrics,
            lr=float(self.learn.opt.hypers[-1]["lr"]),
            seconds=self.compute.clock() - self.t_epoch,
            best=self.learn.keep_best.improved,
        )
        progress = Progress(progress=(epoch + 1) / self.epochs, epoch=epoch + 1, compute_s=self.compute.seconds(), metrics=metrics.flat())

        def report() -> None:
            self.sink.event(event)
            self.sink.progress(progress)

        checkpoint = getattr(self.learn, "checkpoint", None)
        if checkpoint is not None:
            checkpoint.when_saved(report)
        else:
            report()


class EarlyStop(EarlyStoppingCallback):
    """fastai's early stopping on validation loss, resumable, recording an EarlyStopEvent."""

    def __init__(self, sink: TaskSink, patience: int, best_loss: float = float("inf"), start_epoch: int = 0):
        super().__init__(monitor="valid_loss", patience=patience, reset_on_fit=False)
        self.sink, self.start_epoch, self.best = sink, start_epoch, best_loss
        self.stopped = False

    def after_epoch(self) -> None:
        if self.learn.epoch < self.start_epoch:
            return
        try:
            super().after_epoch()
        except CancelFitException:
            self.stopped = True
            self.sink.event(EarlyStopEvent(epoch=self.learn.epoch, patience=self.patience, best_loss=float(self.best)))
            raise


class TrialCallback(Callback):
    """One search trial: report validation loss per epoch; stop when pruned or when the user stops."""

    order = 60

    def __init__(self, on_epoch: Callable[[int, float], bool], stop_requested: Callable[[], bool]):
        self.on_epoch, self.stop_requested = on_epoch, stop_requested
        self.best, self.stopped_by_user = float("inf"), False

    def after_epoch(self) -> None:
        loss = float(self.learn.recorder.values[-1][1])
        self.best = min(self.best, loss)
        if self.stop_requested():
            self.stopped_by_user = True
            raise CancelFitException()
        if self.on_epoch(self.learn.epoch, loss):
            raise CancelFitException()
