"""The stages of a run up to the fit: prepare data, build the learner, fit (planning.py plans; conclude.py
refits, evaluates and registers). Each is a function of typed inputs with a typed output (run_types.py);
pipeline.py calls them in order."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from fastai.learner import Learner
from safetensors.torch import load_file

from .. import zoo
from ..autoplan import Fingerprint, Plan, make_plan, resolved_spec, scored_slices, study_context
from ..contracts import (
    DataEvent,
    DataProblemsEvent,
    DataStatistics,
    ModelCard,
    ModelEvent,
    PlanEvent,
    Progress,
)
from ..data.cache import CachedData, build_cache, decode_processes
from ..data.catalog import DatasetInfo, scan_dataset
from ..data.splits import Split, fold_cases, split_cases
from ..dataset_fit import fit_problems
from ..evaluations import read_card
from ..kinds.base import TaskKind
from ..presets import Preset, get_preset
from ..spec import Flow, SearchMethod
from . import callbacks as cb
from . import distributed
from .checkpoint import has_checkpoint, load_checkpoint, load_weights, model_state, weights_digest
from .learner import build_learner, find_lr, fit
from .loaders import BatchLoader
from .registry import build_network, load_model
from .run_types import Built, Fitted, Prepared, Run, TaskCannotRun, TaskStopped

SEARCH_WINNER = "search_winner.safetensors"
CHECKPOINT = "checkpoint"  # the set `deepq resume` continues from (checkpoint.py)


# -- 1. prepare data ----------------------------------------------------------------------------------
def prepare_data(run: Run, recorded: Plan | None = None) -> Prepared:
    """The cases decoded into the cache at the plan's size and split; `recorded`: the plan rank 0 recorded
    (a data-parallel fit's other ranks train exactly that one)."""
    spec = run.spec
    preset = get_preset(spec.preset) if spec.flow is Flow.specialized and spec.preset else None
    base = read_card(run.workspace, spec.model.base_model) if spec.flow is Flow.retrain and spec.model.base_model else None
    info = checked_dataset(run, preset, base)
    resumed = recorded or resumed_plan(run)
    plan = resumed or make_plan(spec, Fingerprint.of(info, spec.auto.modality), preset)
    run.sink.status(f"Preparing {len(info.usable):,} cases at {plan.image_size} px (decoded once, then cached)")
    data = build_cache(
        info,
        run.workspace.root / "cache",
        plan.image_size,
        spec.windows,
        channels=base.channels if base else None,
        masks=run.kind.masks,
        progress=decoding_reporter(run),
    )
    if data.problems:
        run.sink.event(DataProblemsEvent(problems=data.problems))
    if len(data.cases) < 2:
        raise TaskCannotRun(f"only {len(data.cases)} of {len(info.usable)} cases could be decoded: " + "; ".join(data.problems[:3]))
    folds = fold_cases(data.cases, plan.hyper.folds, spec.seed) if plan.hyper.folds > 1 else None
    split = folds.split(0) if folds else split_cases(data.cases, spec.hyper.valid_pct, spec.seed)
    if not split.train or not split.valid or (folds and not all(folds.parts)):
        held_out = f"{plan.hyper.folds} folds" if folds else f"{spec.hyper.valid_pct}% for validation"
        raise TaskCannotRun(f"{len(data.cases)} cases are too few to hold out {held_out}")
    run.sink.event(DataEvent(statistics=data_statistics(run.kind, data, split, [str(p) for p in info.problems])))
    arch = base.arch if base else spec.model.arch
    if arch is None:
        raise TaskCannotRun("the task names no network (model.arch)")
    entry = zoo.get(arch)
    mean, std = normalisation(entry.mean, entry.std, data.channels)
    return Prepared(plan, resumed is not None, data, split, preset, base, entry.name, mean, std, folds)


def checked_dataset(run: Run, preset: Preset | None, base: ModelCard | None) -> DatasetInfo:
    info = scan_dataset(run.workspace, run.spec.dataset, corrected=run.spec.label_corrections)
    if info.corrected:
        run.sink.status(f"Labels of {info.corrected} cases from the dataset's label_corrections.csv (a reviewer's decisions)")
    problems = fit_problems(info, run.spec.task, preset, base.classes if base else None)
    if base is not None and not base.retrainable:
        raise TaskCannotRun(f"{base.id} is an ensemble of {base.members} networks: run its task file again to retrain it")
    if problems:
        raise TaskCannotRun(f"dataset {run.spec.dataset!r} cannot train this task: {'; '.join(problems)}")
    return info


def data_statistics(kind: TaskKind, data: CachedData, split: Split, problems: list[str]) -> DataStatistics:
    """Class counts per side, the split notice, and what the task kind adds (box sizes, mask areas)."""

    def counts(indices: list[int]) -> dict[str, int]:
        return {c: int(data.labels[indices, k].sum()) for k, c in enumerate(data.classes)}

    return DataStatistics(
        train=len(split.train),
        valid=len(split.valid),
        train_counts=counts(split.train),
        valid_counts=counts(split.valid),
        split=split.notice(),
        grouped_by=split.grouped_by,
        problems=problems,
        kind=kind.statistics(data, split.train),
    )


def prepare(run: Run, recorded: Plan | None = None) -> Factory:
    """Stage 1 and what every later stage builds from: the prepared data in a Factory of networks and learners."""
    return Factory(run, prepare_data(run, recorded))


# -- 3. build the learner -----------------------------------------------------------------------------
class Factory:
    """Makes networks and learners for this run: once for the fit, many times for a search."""

    def __init__(self, run: Run, prepared: Prepared):
        self.run, self.prepared = run, prepared
        self.trainer = run.kind.trainer

    def model(self, pretrained: bool = True) -> torch.nn.Module:
        """The network this run trains, from its starting weights; `pretrained` off: its shape only, for
        weights read next (an ensemble member's)."""
        p, spec = self.prepared, self.run.spec
        if p.base is not None:  # retraining fine-tunes the base network itself, without its temperature
            return (
                load_model(self.run.workspace, p.base.id, calibrated=False)[0] if pretrained else build_network(p.base, self.run.workspace)
            )
        pretrain = spec.model.pretrain if pretrained else "none"
        model = self.trainer.build_model(p.arch, len(p.data.classes), p.data.channels, p.plan.image_size, pretrain, self.run.workspace)
        self.trainer.adapt(model, p.data, p.split.train, p.plan.hyper)
        return model

    def loaders(self, plan: Plan, split: Split | None = None) -> list[BatchLoader]:
        """Training (augmented, shuffled) and validation loaders; studies give `slices` per step to training and
        up to `scored_slices` of them to validation."""
        p, seed, targets, h = self.prepared, self.run.spec.seed, self.trainer.targets, plan.hyper
        train, valid = (split or p.split).train, (split or p.split).valid
        context = study_context(h)
        return [
            BatchLoader(
                p.data,
                train,
                targets,
                h.batch_size,
                p.mean,
                p.std,
                augment=plan.augment,
                shuffle=True,
                seed=seed,
                slices=h.slices,
                context=context,
            ),
            BatchLoader(p.data, valid, targets, h.batch_size, p.mean, p.std, slices=scored_slices(h.slices), context=context),
        ]

    def learner(self, model: torch.nn.Module, plan: Plan, split: Split | None = None) -> Learner:
        """A learner on the run's split, or on `split` (a refit's every case, an ensemble member's fold)."""
        return build_learner(model, self.loaders(plan, split), self.trainer, plan, self.run.device)


def build(run: Run, factory: Factory, plan: Plan) -> Built:
    """The network (from the search's winner when there was one), its learner, and where it resumes."""
    model = factory.model()
    p = factory.prepared
    source = f"registry:{p.base.id}" if p.base else f"{run.spec.model.pretrain}:{p.arch}"
    winner = run.folder / SEARCH_WINNER
    if run.spec.search.method is SearchMethod.pbt and winner.is_file():
        load_weights(model, load_file(str(winner)))
        source += ", then the population-based search's winner"
    run.sink.event(ModelEvent(source=source, weights_sha256=weights_digest(model_state(model))))
    built = Built(factory.learner(model, plan), plan, dataset=p.data.fingerprint)
    if run.task.resume and has_checkpoint(run.folder / CHECKPOINT):
        built.learn.create_opt()
        ckpt = load_checkpoint(run.folder / CHECKPOINT, built.learn.model, built.learn.opt)
        if ckpt.dataset != p.data.fingerprint:
            raise TaskCannotRun(
                f"dataset {run.spec.dataset!r} changed since the checkpoint of epoch {ckpt.epoch + 1} "
                "(files added, removed, edited or relabelled): resuming would mix two datasets; start a new task"
            )
        built.start_epoch, built.best_loss, built.compute_s = ckpt.epoch + 1, ckpt.best_loss, ckpt.compute_s
        run.sink.status(f"Resumed from the checkpoint of epoch {built.start_epoch}")
    elif plan.lr_find_iters:
        plan.hyper.lr = find_lr(built.learn, plan)
        plan.notes.append(f"Learning rate {plan.hyper.lr:.2g} from a {plan.lr_find_iters}-step finder.")
    run.sink.progress(Progress(epochs=plan.hyper.epochs))
    data = p.data
    ran_as = resolved_spec(run.spec, plan, p.arch)
    run.sink.event(PlanEvent(plan=plan, arch=p.arch, device=str(run.device), in_chans=data.channels, mean=p.mean, std=p.std, ran_as=ran_as))
    return built


# -- 4. fit ---------------------------------------------------------------------------------------------
def train(run: Run, built: Built, classes: list[str]) -> Fitted:
    """Fit to the end (or early stop); raises TaskStopped when the user stops it. In a data-parallel fit
    every rank runs this; only rank 0 keeps checkpoints (the others' sink reports nothing)."""
    plan, start = built.plan, built.start_epoch
    clock = cb.ComputeClock(built.compute_s)
    keep_best = cb.KeepBest(built.best_loss, start, last=plan.hyper.last_weights)
    stop, parallel = stop_and_parallel(run)
    cbs = [
        clock,
        cb.ValidationMetrics(run.kind.trainer.accumulator(classes)),
        cb.LossMeans(),
        cb.LiveProgress(run.sink, plan.hyper.epochs, clock),
        cb.StopOnDivergence(),
        stop,
        keep_best,
        cb.EpochLog(run.sink, plan.hyper.epochs, clock, start),
        *parallel,
    ]
    if run.rank == 0:
        cbs.append(cb.Checkpoint(run.folder / CHECKPOINT, clock, start, dataset=built.dataset))
    if plan.hyper.early_stop:
        cbs.append(cb.EarlyStop(run.sink, plan.hyper.patience, built.best_loss, start))
    if start < plan.hyper.epochs:
        fit(built.learn, plan, cbs, start)
    if stop.requested:
        raise TaskStopped()
    return Fitted(keep_best.state, clock.seconds())


def stop_and_parallel(run: Run) -> tuple[cb.StopOnRequest, list[distributed.DataParallel]]:
    """The stop callback, and in a data-parallel fit the callback that keeps the ranks one: there every rank
    reads rank 0's stop flag at every batch, so that all of them stop at the same one."""
    group = distributed.current()
    if group is None:
        return cb.StopOnRequest(run.sink.stop_requested), []
    return cb.StopOnRequest(group.shared(run.sink.stop_requested), every_s=0.0), [distributed.DataParallel(group)]


# -- helpers ------------------------------------------------------------------------------------------------
def decoding_reporter(run: Run, every_s: float = 2.0) -> Callable[[int, int], None]:
    """Decoding progress as status lines in the store (the monitor shows the latest), at most one per `every_s`."""
    said, processes = [0.0], decode_processes()
    by = f"{processes} decoding process{'es' * (processes > 1)}"

    def report(done: int, total: int) -> None:
        if done == total or time.monotonic() - said[0] >= every_s:
            run.sink.status(f"Decoding {done:,} of {total:,} cases into the cache ({by})")
            said[0] = time.monotonic()

    return report


def normalisation(mean: tuple[float, ...], std: tuple[float, ...], channels: int) -> tuple[list[float], list[float]]:
    if channels == len(mean):
        return list(mean), list(std)
    return [float(np.mean(mean))] * channels, [float(np.mean(std))] * channels


def resumed_plan(run: Run) -> Plan | None:
    """A resumed run keeps the plan it trained with (searched or found): the latest plan event."""
    previous = run.sink.events(PlanEvent) if run.task.resume else []
    if not previous:
        return None
    plan = previous[-1].plan
    return plan.but(lr_find_iters=0, image_size=plan.image_size or run.spec.image_size)
