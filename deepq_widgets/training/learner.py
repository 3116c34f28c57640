"""A fastai Learner for a run, its schedules, and the learning-rate finder."""

from __future__ import annotations

from functools import partial

import torch
from fastai.callback.progress import ProgressCallback
from fastai.callback.schedule import ParamScheduler, SchedNo, combine_scheds, valley
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
    opt = partial(Adam, mom=plan.momentum, wd=plan.weight_decay, decouple_wd=True)
    learn = Learner(
        dls, model.to(device), loss_func=trainer.loss(), opt_func=opt, splitter=trainer.param_groups, wd=plan.weight_decay, train_bn=True
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
    """Train `plan.epochs` with the plan's schedule, from `start_epoch` when resumed."""
    m = plan.momentum
    if plan.schedule is Schedule.one_cycle:
        moms = (min(m + 0.05, 0.99), max(m - 0.05, 0.0), min(m + 0.05, 0.99))
        learn.fit_one_cycle(plan.epochs, plan.lr, moms=moms, cbs=cbs, start_epoch=start_epoch)
    elif plan.schedule is Schedule.step:
        # Step decay: x0.1 at half way and again at three quarters.
        lrs = [SchedNo(plan.lr, plan.lr), SchedNo(plan.lr / 10, plan.lr / 10), SchedNo(plan.lr / 100, plan.lr / 100)]
        learn.fit(plan.epochs, plan.lr, cbs=[*cbs, ParamScheduler({"lr": combine_scheds([0.5, 0.25, 0.25], lrs)})], start_epoch=start_epoch)
    else:
        learn.fit(plan.epochs, plan.lr, cbs=cbs, start_epoch=start_epoch)


def find_lr(learn: Learner, plan: Plan) -> float:
    """A short LR range test, clamped to a band around the policy rate (a short test is noisy)."""
    try:
        suggestion = learn.lr_find(start_lr=1e-5, end_lr=1e-1, num_it=plan.lr_find_iters, show_plot=False, suggest_funcs=(valley,)).valley
    except Exception:  # a diverging or too-short curve: keep the policy rate
        return plan.lr
    return float(min(max(suggestion, plan.lr / 3), plan.lr * 3))
