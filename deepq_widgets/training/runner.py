"""Run one task from its TaskSpec: data, plan, fastai Learner, fit, evaluation, registry.

Called by the worker process, never by the notebook kernel. Every outcome lands in the
store: Finished (with a registered model), Stopped, or Error with the message and
traceback. Resume continues from the last epoch checkpoint with the optimizer state.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import traceback
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fastai.callback.progress import ProgressCallback
from fastai.callback.schedule import ParamScheduler, SchedNo, combine_scheds, valley
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.optimizer import Adam
from safetensors.torch import load_file

from .. import zoo
from ..data.cache import build_cache
from ..data.catalog import DatasetInfo, scan_dataset
from ..data.splits import split_cases
from ..presets import Preset, get_preset
from ..spec import Flow, Schedule, SearchMethod, TaskSpec, parse_spec
from ..store import ERROR, FINISHED, STOPPED, Store, TaskRow
from ..workspace import Workspace
from .callbacks import DetectionTargets, Predictions, TaskCallback, TrialCallback
from .checkpoint import (
    atomic_write_json,
    has_checkpoint,
    load_checkpoint,
    load_weights,
    model_state,
    save_checkpoint,
    snapshot,
    weights_digest,
)
from .evaluate import evaluate
from .loaders import BatchLoader
from .models import build_model, loss_for, split_body_head
from .policy import Plan, make_plan
from .registry import load_model, read_card, register_model
from .search import population_based, search_epochs, tune


class TaskFailed(RuntimeError):
    """A task that cannot run; the message is what the user sees."""


class TaskStopped(Exception):
    """The user stopped the task during the hyperparameter search."""


def run_task(workspace: Workspace, store: Store, task: TaskRow) -> str:
    """Run `task` to its end and record the outcome; returns the final state."""
    try:
        state = _run(workspace, store, task)
    except TaskStopped:
        state = STOPPED
    except TaskFailed as exc:
        store.set_state(task.id, ERROR, error=str(exc), traceback=traceback.format_exc())
        return ERROR
    except Exception as exc:  # any failure must reach the user with its traceback
        store.set_state(task.id, ERROR, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        return ERROR
    store.set_state(task.id, state)
    return state


def task_folder(workspace: Workspace, task_id: int) -> Path:
    folder = workspace.tasks / str(task_id)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _run(workspace: Workspace, store: Store, task: TaskRow) -> str:
    spec = parse_spec(task.spec)
    folder = task_folder(workspace, task.id)
    seed_everything(spec.seed)
    preset = get_preset(spec.preset) if spec.flow is Flow.specialized and spec.preset else None
    base = read_card(workspace, spec.model.base_model) if spec.flow is Flow.retrain else None

    info = _checked_dataset(workspace, spec, preset, base)
    store.add_event(task.id, "status", {"message": f"Preparing {len(info.usable)} cases (decoded once, then cached)"})
    data = build_cache(info, workspace.root / "cache", spec.image_size, spec.windows, channels=base["channels"] if base else None)
    if data.problems:
        store.add_event(task.id, "data_problems", {"problems": data.problems})
    if len(data.cases) < 2:
        raise TaskFailed(f"only {len(data.cases)} of {len(info.usable)} cases could be decoded: " + "; ".join(data.problems[:3]))
    split = split_cases(data.cases, spec.hyper.valid_pct, spec.seed)
    if not split.train or not split.valid:
        raise TaskFailed(f"{len(data.cases)} cases are too few to hold out {spec.hyper.valid_pct}% for validation")
    plan = make_plan(spec, len(split.train), data.channels, preset)
    store.add_event(task.id, "data", data_statistics(spec.task.value, data, split) | {"problems": [str(p) for p in info.problems]})

    arch = base["arch"] if base else spec.model.arch
    if arch is None:
        raise TaskFailed("the task names no network (model.arch)")
    entry = zoo.get(arch)
    mean, std = _normalisation(entry.mean, entry.std, data.channels)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def make_model() -> torch.nn.Module:
        if base:
            return load_model(workspace, base["id"])[0]
        return build_model(spec.task.value, arch, len(data.classes), data.channels, spec.image_size, spec.model.pretrain, workspace)

    def make_learner(model: torch.nn.Module, plan: Plan) -> tuple[Learner, list[BatchLoader]]:
        loaders = [
            BatchLoader(data, split.train, spec.task.value, plan.batch_size, mean, std, augment=plan.augment, shuffle=True, seed=spec.seed),
            BatchLoader(data, split.valid, spec.task.value, plan.batch_size, mean, std),
        ]
        learn = _learner(model, loaders, spec.task.value, plan, device)
        learn.remove_cb(ProgressCallback)
        learn.logger = lambda *_: None  # every epoch goes to the store; nothing to print
        if spec.task.value == "detection":
            learn.add_cb(DetectionTargets())
        return learn, loaders

    previous = store.events(task.id, "plan") if task.resume else []
    if previous:  # a resumed run keeps the settings it trained with, searched or found
        plan = replace(Plan.from_dict(previous[-1]), lr_find_iters=0)
    elif spec.search.method is SearchMethod.pbt:
        plan = _population_based(store, task.id, spec, plan, len(split.train), make_model(), make_learner, folder)
    elif spec.search.method is not SearchMethod.none:
        plan = _search(store, task.id, spec, plan, len(split.train), make_model, make_learner)

    model = make_model()
    source = f"registry:{base['id']}" if base else f"{spec.model.pretrain}:{arch}"
    winner = folder / "search_winner.safetensors"
    if spec.search.method is SearchMethod.pbt and winner.is_file():
        load_weights(model, load_file(str(winner)))
        source += ", then the population-based search's winner"
    store.add_event(task.id, "model", {"source": source, "weights_sha256": weights_digest(model_state(model))})
    learn, loaders = make_learner(model, plan)

    start_epoch, best_loss, compute_s = 0, float("inf"), 0.0
    if task.resume and has_checkpoint(folder):
        learn.create_opt()
        ckpt = load_checkpoint(folder, learn.model, learn.opt)
        start_epoch, best_loss, compute_s = ckpt["epoch"] + 1, ckpt["best_loss"], ckpt["compute_s"]
        store.add_event(task.id, "status", {"message": f"Resumed from the checkpoint of epoch {start_epoch}"})
    elif plan.lr_find_iters:
        plan.lr = _find_lr(learn, plan)
        plan.notes.append(f"Learning rate {plan.lr:.2g} from a {plan.lr_find_iters}-step finder.")
    store.update_progress(task.id, epochs=plan.epochs)
    store.add_event(
        task.id, "plan", plan.to_dict() | {"arch": arch, "device": str(device), "in_chans": data.channels, "mean": mean, "std": std}
    )

    cb = TaskCallback(
        store,
        task.id,
        folder,
        Predictions(spec.task.value, data.classes),
        plan.epochs,
        plan.early_stop,
        plan.patience,
        start_epoch,
        best_loss,
        compute_s,
    )
    if start_epoch < plan.epochs:
        _fit(learn, plan, cb, start_epoch)
    if cb.stopped_by_user:
        return STOPPED

    if cb.best_state is not None:
        load_weights(learn.model, cb.best_state)
    elif (folder / "best.safetensors").is_file():
        load_weights(learn.model, load_file(str(folder / "best.safetensors")))
    report = evaluate(learn.model, loaders[1], spec.task.value, data.classes)
    atomic_write_json(report, folder / "evaluation.json")
    card = {
        "task": spec.task.value,
        "arch": entry.name,
        "classes": data.classes,
        "image_size": spec.image_size,
        "channels": data.channels,
        "windows": spec.windows,
        "mean": mean,
        "std": std,
        "metrics": report["metrics"],
        "thresholds": report.get("thresholds"),
        "dataset": spec.dataset,
        "dataset_fingerprint": data.fingerprint,
        "base_model": spec.model.base_model,
        "spec": json.loads(spec.to_json()),
    }
    model_id = register_model(workspace, store, task.id, spec.name, learn.model.float().cpu(), card)
    store.update_progress(task.id, progress=1.0, metrics=report["metrics"], model_id=model_id, compute_s=cb.compute_s())
    return FINISHED


def _search(store: Store, task_id: int, spec: TaskSpec, plan: Plan, n_train: int, make_model, make_learner) -> Plan:
    """Optuna trials on short fits; the best learning rate, weight decay and batch size train the full run."""
    store.add_event(task_id, "status", {"message": f"Hyperparameter search: {spec.search.method.value}, up to {spec.search.trials} trials"})

    def train_trial(trial_plan: Plan, on_epoch) -> float:
        learn, _ = make_learner(make_model(), trial_plan)
        cb = TrialCallback(on_epoch, lambda: store.stop_requested(task_id))
        _fit(learn, trial_plan, cb, 0)
        if cb.stopped_by_user:
            raise TaskStopped()
        return cb.best

    best = tune(
        plan, spec.search.method, spec.search.trials, n_train, spec.seed, train_trial, partial(store.add_event, task_id, "search_trial")
    )
    plan = replace(plan, **best, lr_find_iters=0, notes=list(plan.notes))
    plan.notes.append(
        f"Search ({spec.search.method.value}, {spec.search.trials} trials) chose " + ", ".join(f"{k} {v:g}" for k, v in best.items()) + "."
    )
    return plan


def _population_based(store: Store, task_id: int, spec: TaskSpec, plan: Plan, n_train: int, model, make_learner, folder: Path) -> Plan:
    """PBT over `spec.search.trials` members; returns the plan for the rest of the run and writes
    the winner's weights to `search_winner.safetensors`. Member states are checkpoints on disk
    (weights and optimizer), so a population of large networks does not have to fit in memory."""
    members = spec.search.trials
    store.add_event(task_id, "status", {"message": f"Population-based training: {members} members, {search_epochs(plan)} rounds"})
    fresh, population_dir, names = model_state(model), folder / "population", itertools.count()

    def train_member(params: dict[str, Any], state: Path | None) -> tuple[Path, float]:
        member_plan = replace(plan, **params, epochs=1, schedule=Schedule.constant, early_stop=False, lr_find_iters=0, notes=[])
        learn, _ = make_learner(model, member_plan)
        learn.create_opt()
        if state is None:
            load_weights(learn.model, fresh)
        else:
            load_checkpoint(state, learn.model, learn.opt)
        cb = TrialCallback(lambda *_: False, lambda: store.stop_requested(task_id))
        _fit(learn, member_plan, cb, 0)
        if cb.stopped_by_user:
            raise TaskStopped()
        out = population_dir / str(next(names))  # never overwritten: several members may start from one state
        save_checkpoint(out, *snapshot(learn.model, learn.opt), {"valid_loss": cb.best})
        return out, cb.best

    winner = population_based(plan, members, n_train, spec.seed, train_member, partial(store.add_event, task_id, "search_trial"))
    os.replace(winner.state / "last.safetensors", folder / "search_winner.safetensors")
    shutil.rmtree(population_dir)
    done = search_epochs(plan)
    plan = replace(plan, **winner.params, epochs=max(1, plan.epochs - done), lr_find_iters=0, notes=list(plan.notes))
    settings = ", ".join(f"{k} {v:g}" for k, v in winner.params.items())
    plan.notes.append(
        f"Population-based training ({members} members, {done} epochs each): member {winner.id} won with {settings}; "
        f"the run continues from its weights for {plan.epochs} more epochs."
    )
    return plan


def _checked_dataset(workspace: Workspace, spec: TaskSpec, preset: Preset | None, base: dict | None) -> DatasetInfo:
    info = scan_dataset(workspace, spec.dataset)
    ok, reason = info.fit(spec.task.value)
    if preset is not None:
        reason = preset.check_dataset(info) or ""
        ok = not reason
    if base is not None and ok and set(info.classes) != set(base["classes"]):
        ok, reason = False, f"classes {info.classes} differ from the base model's {base['classes']}"
    if not ok:
        raise TaskFailed(f"dataset {spec.dataset!r} cannot train this task: {reason}")
    return info


def _learner(model: torch.nn.Module, loaders: list[BatchLoader], task: str, plan: Plan, device: torch.device) -> Learner:
    dls = DataLoaders(*loaders, device=device)
    if task == "detection":
        dls.n_inp = 1  # batches are (x, box counts, targets)
    opt = partial(Adam, mom=plan.momentum, wd=plan.weight_decay, decouple_wd=True)
    learn = Learner(
        dls, model.to(device), loss_func=loss_for(task), opt_func=opt, splitter=split_body_head, wd=plan.weight_decay, train_bn=True
    )
    if device.type == "cuda":
        learn.to_fp16()
    elif task != "detection":
        learn.model.to(memory_format=torch.channels_last)
        for loader in loaders:
            loader.channels_last = True
    return learn


def _fit(learn: Learner, plan: Plan, cb: TaskCallback, start_epoch: int) -> None:
    m = plan.momentum
    if plan.schedule is Schedule.one_cycle:
        learn.fit_one_cycle(
            plan.epochs, plan.lr, moms=(min(m + 0.05, 0.99), max(m - 0.05, 0.0), min(m + 0.05, 0.99)), cbs=[cb], start_epoch=start_epoch
        )
    elif plan.schedule is Schedule.step:
        # Step decay: x0.1 at half way and again at three quarters.
        steps = combine_scheds(
            [0.5, 0.25, 0.25], [SchedNo(plan.lr, plan.lr), SchedNo(plan.lr / 10, plan.lr / 10), SchedNo(plan.lr / 100, plan.lr / 100)]
        )
        learn.fit(plan.epochs, plan.lr, cbs=[cb, ParamScheduler({"lr": steps})], start_epoch=start_epoch)
    else:
        learn.fit(plan.epochs, plan.lr, cbs=[cb], start_epoch=start_epoch)


def _find_lr(learn: Learner, plan: Plan) -> float:
    """A short LR range test, clamped to a band around the policy rate (a short test is noisy)."""
    try:
        suggestion = learn.lr_find(start_lr=1e-5, end_lr=1e-1, num_it=plan.lr_find_iters, show_plot=False, suggest_funcs=(valley,)).valley
    except Exception:  # a diverging or too-short curve: keep the policy rate
        return plan.lr
    return float(min(max(suggestion, plan.lr / 3), plan.lr * 3))


def _normalisation(mean: tuple[float, ...], std: tuple[float, ...], channels: int) -> tuple[list[float], list[float]]:
    if channels == len(mean):
        return list(mean), list(std)
    return [float(np.mean(mean))] * channels, [float(np.mean(std))] * channels


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)


def data_statistics(task: str, data, split) -> dict[str, Any]:
    """Class counts per side, the split notice, and box sizes or mask areas where they apply."""

    def counts(indices: list[int]) -> dict[str, int]:
        return {c: int(data.labels[indices, k].sum()) for k, c in enumerate(data.classes)}

    out: dict[str, Any] = {
        "train": len(split.train),
        "valid": len(split.valid),
        "train_counts": counts(split.train),
        "valid_counts": counts(split.valid),
        "split": split.notice(),
        "grouped_by": split.grouped_by,
    }
    if task == "detection":
        sides = [float(np.sqrt(b.w * b.h)) for per in data.boxes for b in per]
        per_image = [len(per) for per in data.boxes]
        out["boxes"] = {
            "count": len(sides),
            "per_image_mean": float(np.mean(per_image)),
            "side_px_median": float(np.median(sides)) if sides else 0.0,
            "side_px_p10": float(np.percentile(sides, 10)) if sides else 0.0,
            "side_px_p90": float(np.percentile(sides, 90)) if sides else 0.0,
        }
    if task == "segmentation" and data.masks is not None:
        areas = {c: float((np.asarray(data.masks) == k + 1).mean()) for k, c in enumerate(data.classes)}
        out["mask_area_fraction"] = areas
    return out
