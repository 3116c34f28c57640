"""A fastai Learner for a run, its schedules, and the learning-rate finder."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from fastai.callback.progress import ProgressCallback
from fastai.callback.schedule import LRFinder, ParamScheduler, SchedNo, combine_scheds, valley
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.optimizer import Adam

from ..autoplan import Plan
from ..spec import Schedule
from .kind_training import KindTraining
from .loaders import BatchLoader


def build_learner(model: torch.nn.Module, loaders: list[BatchLoader], trainer: KindTraining, plan: Plan, device: torch.device) -> Learner:
    """AdamW with decoupled weight decay, all layers trainable; mixed precision on a GPU,
    channels_last on the CPU where the kind allows it. Quiet: every epoch goes to the store."""
    dls = DataLoaders(*loaders, device=device)
    dls.n_inp = trainer.n_inp
    h = plan.hyper
    opt = partial(Adam, mom=h.momentum, wd=h.weight_decay, decouple_wd=True)
    learn = Learner(
        dls, model.to(device), loss_func=trainer.loss(), opt_func=opt, splitter=trainer.param_groups, wd=h.weight_decay, train_bn=True
    )
    if device.type == "cuda":
        learn.to_fp16()
    elif trainer.channels_last:
        learn.model.to(memory_format=torch.channels_last)
        for loader in loaders:
            loader.channels_last = True
    learn.remove_cb(ProgressCallback)
    learn.logger = lambda *_: None
    for cb in trainer.callbacks():
        learn.add_cb(cb)
    return learn


def fit(learn: Learner, plan: Plan, cbs: list, start_epoch: int = 0) -> None:
    """Train `plan.hyper.epochs` with the plan's schedule, from `start_epoch` when resumed."""
    h = plan.hyper
    m = h.momentum
    if h.schedule is Schedule.one_cycle:
        moms = (min(m + 0.05, 0.99), max(m - 0.05, 0.0), min(m + 0.05, 0.99))
        learn.fit_one_cycle(h.epochs, h.lr, moms=moms, cbs=cbs, start_epoch=start_epoch)
    elif h.schedule is Schedule.step:
        # Step decay: x0.1 at half way and again at three quarters.
        lrs = [SchedNo(h.lr, h.lr), SchedNo(h.lr / 10, h.lr / 10), SchedNo(h.lr / 100, h.lr / 100)]
        learn.fit(h.epochs, h.lr, cbs=[*cbs, ParamScheduler({"lr": combine_scheds([0.5, 0.25, 0.25], lrs)})], start_epoch=start_epoch)
    else:
        learn.fit(h.epochs, h.lr, cbs=cbs, start_epoch=start_epoch)


def find_lr(learn: Learner, plan: Plan) -> float:
    """A short LR range test, clamped to a band around the policy rate (a short test is noisy).

    Nothing of the test survives it: the weights, the optimizer and every random stream are as
    before, so the run that follows is the one its task file as run (this rate, no finder)
    repeats bit for bit. fastai's own finder would round-trip the weights through a .pth file
    in the current directory."""
    snapshot = _Snapshot.take(learn)
    try:
        with learn.no_logging():
            learn.fit(plan.lr_find_iters // len(learn.dls.train) + 1, cbs=_InMemoryLRFinder(1e-5, 1e-1, plan.lr_find_iters))
        skip = plan.lr_find_iters // 10
        lrs, losses = learn.recorder.lrs[skip:-5], [float(v) for v in learn.recorder.losses[skip:-5]]
        finite = next((i for i, v in enumerate(losses) if math.isnan(v)), len(losses))
        suggestion = valley(torch.tensor(lrs[:finite]), torch.tensor(losses[:finite]), plan.lr_find_iters)[0]
    except Exception:  # a diverging or too-short curve: keep the policy rate
        return plan.hyper.lr
    finally:
        snapshot.restore(learn)
    return float(min(max(suggestion, plan.hyper.lr / 3), plan.hyper.lr * 3))


class _InMemoryLRFinder(LRFinder):
    """fastai's finder without its save and load of the weights (`find_lr` restores them)."""

    def before_fit(self) -> None:
        ParamScheduler.before_fit(self)
        self.best_loss = float("inf")

    def after_fit(self) -> None:
        self.learn.opt.zero_grad()


@dataclass
class _Snapshot:
    """The weights, and the state of every random stream training draws from, held in memory."""

    weights: dict[str, torch.Tensor]
    streams: tuple
    loaders: list[torch.Tensor]

    @classmethod
    def take(cls, learn: Learner) -> _Snapshot:
        weights = {k: v.detach().clone() for k, v in learn.model.state_dict().items()}
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        streams = (random.getstate(), np.random.get_state(), torch.get_rng_state(), cuda)
        return cls(weights, streams, [dl.generator.get_state() for dl in learn.dls.loaders])

    def restore(self, learn: Learner) -> None:
        learn.model.load_state_dict(self.weights)
        learn.opt = None  # the next fit creates a fresh optimizer, as it would have without the test
        random.setstate(self.streams[0])
        np.random.set_state(self.streams[1])
        torch.set_rng_state(self.streams[2])
        if self.streams[3] is not None:
            torch.cuda.set_rng_state_all(self.streams[3])
        for dl, state in zip(learn.dls.loaders, self.loaders, strict=True):
            dl.generator.set_state(state)
