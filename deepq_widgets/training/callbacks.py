"""fastai callbacks that connect a fit to the task store.

`TaskCallback` is the progress sink (one method per event, as fastai's own progress
callback): it measures losses, gathers validation predictions for the metrics, writes an
event per epoch, heartbeats, turns the store's stop flag into `CancelFitException`,
checkpoints every epoch, keeps the best weights and stops early on validation loss.
`DetectionTargets` hands each batch's boxes to the detector before the forward pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fastai.callback.core import Callback, CancelFitException

from ..store import Store
from .checkpoint import BackgroundWriter, atomic_save_tensors, save_checkpoint, snapshot
from .metrics import detection, multi_label, pixel_counts, segmentation, single_label

HEARTBEAT_S = 1.0


class DetectionTargets(Callback):
    """fastai keeps targets in yb (so it runs backward and metrics); the detector needs them in forward."""

    order = -5

    def before_batch(self) -> None:
        self.learn.model.targets = self.learn.yb[1]

    def after_fit(self) -> None:
        self.learn.model.targets = None


class Predictions:
    """Accumulates validation outputs and turns them into the task's metrics."""

    def __init__(self, task: str, classes: list[str]):
        self.task, self.classes = task, classes
        self.reset()

    def reset(self) -> None:
        self.scores, self.truth, self.dets, self.boxes = [], [], [], []
        self.counts = np.zeros((len(self.classes) + 1, 3), np.int64)

    def add(self, pred: Any, yb: tuple) -> None:
        if self.task == "single_label":
            self.scores.append(pred.float().softmax(1).cpu().numpy())
            self.truth.append(yb[0].cpu().numpy())
        elif self.task == "multi_label":
            self.scores.append(pred.float().sigmoid().cpu().numpy())
            self.truth.append(yb[0].cpu().numpy())
        elif self.task == "segmentation":
            self.counts += pixel_counts(pred.argmax(1).cpu().numpy(), yb[0].cpu().numpy(), len(self.classes) + 1)
        else:
            self.dets += [{k: v.detach().float().cpu().numpy() for k, v in d.items()} for d in pred["detections"]]
            self.boxes += [{k: v.cpu().numpy() for k, v in t.items()} for t in yb[1]]

    def metrics(self) -> dict[str, float]:
        if self.task == "single_label":
            return single_label(np.concatenate(self.scores), np.concatenate(self.truth), self.classes)
        if self.task == "multi_label":
            return multi_label(np.concatenate(self.scores), np.concatenate(self.truth), self.classes)
        if self.task == "segmentation":
            return segmentation(self.counts, self.classes)
        return detection(self.dets, self.boxes, self.classes)


class TaskCallback(Callback):
    order = 60  # after fastai's Recorder, so its epoch bookkeeping is done

    def __init__(
        self,
        store: Store,
        task_id: int,
        folder: Path,
        predictions: Predictions,
        epochs: int,
        early_stop: bool,
        patience: int,
        start_epoch: int = 0,
        best_loss: float = float("inf"),
        compute_s: float = 0.0,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.store, self.task_id, self.folder, self.preds = store, task_id, folder, predictions
        self.epochs, self.early_stop, self.patience = epochs, early_stop, patience
        self.start_epoch, self.best_loss, self.compute_before = start_epoch, best_loss, compute_s
        self.clock = clock
        self.stopped_by_user = self.stopped_early = False
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad_epochs = 0
        self.last_metrics: dict[str, float] = {}
        self.writer = BackgroundWriter()

    # -- fit ---------------------------------------------------------------------------------
    def before_fit(self) -> None:
        self.t_fit, self.last_beat = self.clock(), 0.0
        self.folder.mkdir(parents=True, exist_ok=True)

    def before_epoch(self) -> None:
        self.sums = {"train": [0.0, 0], "valid": [0.0, 0]}
        self.t_epoch = self.clock()

    def before_validate(self) -> None:
        self.preds.reset()

    def after_batch(self) -> None:
        if self.learn.loss is None:
            return
        bs = int(self.learn.xb[0].shape[0])
        side = self.sums["train" if self.training else "valid"]
        side[0] += float(self.learn.loss.detach()) * bs
        side[1] += bs
        if not self.training:
            self.preds.add(self.learn.pred, self.learn.yb)
        now = self.clock()
        if now - self.last_beat >= HEARTBEAT_S:
            self.last_beat = now
            done = self.learn.epoch + (self.learn.iter + 1) / max(self.learn.n_iter, 1) * (1.0 if self.training else 0.0)
            self.store.update_progress(
                self.task_id, progress=min(done / self.epochs, 1.0), epoch=self.learn.epoch, compute_s=self.compute_s()
            )
            if self.store.stop_requested(self.task_id):
                self.stopped_by_user = True
                raise CancelFitException()

    def after_epoch(self) -> None:
        epoch = self.learn.epoch
        if epoch < self.start_epoch:
            return  # fastai's SkipToEpoch passes through the epochs a resumed task already did
        train_loss = self.sums["train"][0] / max(self.sums["train"][1], 1)
        valid_loss = self.sums["valid"][0] / max(self.sums["valid"][1], 1)
        self.last_metrics = self.preds.metrics()
        improved = valid_loss < self.best_loss
        weights, optim, plain = snapshot(self.learn.model, self.learn.opt)
        if improved:
            self.best_loss, self.bad_epochs, self.best_state = valid_loss, 0, weights
        else:
            self.bad_epochs += 1
        info = {"epoch": epoch, "best_loss": self.best_loss, "compute_s": self.compute_s()}

        def write(best=weights if improved else None) -> None:
            if best is not None:
                atomic_save_tensors(best, self.folder / "best.safetensors")
            save_checkpoint(self.folder, weights, optim, plain, info)

        self.writer.submit(write)
        lr = float(self.learn.opt.hypers[-1]["lr"])
        event = {
            "epoch": epoch,
            "train_loss": train_loss,
            "valid_loss": valid_loss,
            "metrics": self.last_metrics,
            "lr": lr,
            "seconds": self.clock() - self.t_epoch,
            "best": improved,
        }
        self.store.add_event(self.task_id, "epoch", event)
        self.store.update_progress(
            self.task_id, progress=(epoch + 1) / self.epochs, epoch=epoch + 1, compute_s=self.compute_s(), metrics=self.last_metrics
        )
        if self.early_stop and self.bad_epochs >= self.patience:
            self.stopped_early = True
            self.store.add_event(self.task_id, "early_stop", {"epoch": epoch, "patience": self.patience, "best_loss": self.best_loss})
            raise CancelFitException()

    def after_fit(self) -> None:
        self.writer.flush()

    def compute_s(self) -> float:
        return self.compute_before + self.clock() - self.t_fit


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
