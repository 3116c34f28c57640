"""The searches of search.py on Ray Tune, for a task that runs on Ray (ray_tasks.py): the trials run in
parallel, each with its own resources, on any node.

- grid and random: Optuna inside Tune (`OptunaSearch` with search.py's sampler and space); random
  search stops a trial worse than the median of the others (`MedianStoppingRule`), as Optuna's
  pruner does in-process;
- population-based training: Tune's `PopulationBasedTraining`, one epoch per round; members hand
  each other checkpoints through Tune's checkpoint API, in our own format (safetensors and JSON,
  never a pickle); exploration is search.py's `explore`, and the learning rate and weight decay are
  set again after every checkpoint load (the loaded optimizer state carries the old ones).

Each trial's results become the same `SearchTrialEvent`s as in-process (a Tune callback where the
search runs), so the monitor and the report do not change. The user's stop ends the search (a Tune
stopper). Tune's experiment state (`tasks/<id>/tune/`) is never read back: resuming it would
unpickle it, which nothing here does. An interrupted random or grid search goes on from the trials
it had finished (the task's events, told to Optuna); an interrupted PBT goes on from the last round
every member had finished, each member from its checkpoint there (our own checkpoint.json files).
"""

from __future__ import annotations

import itertools
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna
import torch
from ray import tune
from ray.tune import Callback, Checkpoint, RunConfig, TuneConfig, Tuner
from ray.tune.schedulers import MedianStoppingRule, PopulationBasedTraining
from ray.tune.search.optuna import OptunaSearch
from ray.tune.stopper import Stopper

from ..contracts import CheckpointInfo, Plan, SearchTrialEvent
from ..spec import Schedule, SearchMethod
from ..store import TaskRow
from ..workspace import WorkspacePaths
from .callbacks import TrialCallback
from .checkpoint import load_checkpoint, read_info, save_checkpoint, snapshot
from .learner import fit
from .run_types import Run, TaskStopped
from .search import GRID, explore, sampler_for, search_epochs, winner_plan
from .search import space as search_space
from .sink import QuietSink
from .stages import SEARCH_WINNER, Factory, prepare

TRIAL_THREADS = 1  # a trial's CPUs and torch threads on a cluster without GPUs
SETTINGS = ("lr", "weight_decay", "batch_size")


def tune_search(run: Run, factory: Factory, plan: Plan) -> Plan:
    """The plan for the full run, chosen by Tune trials on the cluster (PBT: and its winner's weights saved).
    An interrupted search goes on: random and grid from the trials they finished (the task's events), PBT from
    each member's checkpoint at the last round all had finished (Tune's pickled state is never read)."""
    import ray

    search, budget, n_train = run.spec.search, search_epochs(plan), len(factory.prepared.split.train)
    pbt, storage = search.method is SearchMethod.pbt, run.folder / "tune"
    done = [] if pbt else run.sink.events(SearchTrialEvent)
    members = population_at_last_round(storage / "search", run.folder / "population", search.trials) if pbt else []
    shutil.rmtree(storage, ignore_errors=True)  # Tune's own files: never read back
    if members and members[0].info.epoch + 1 >= budget:  # every member had trained every round: only the plan was left
        run.sink.status("The population had trained all its rounds before the interruption: its winner trains the task")
        mirrored = {(t.trial, t.round) for t in run.sink.events(SearchTrialEvent)}
        for i, m in enumerate(members):  # the last round's results that the stop kept from the store
            if (i, m.info.epoch) not in mirrored:
                run.sink.event(SearchTrialEvent(trial=i, round=m.info.epoch, params=m.info.params, valid_loss=m.info.valid_loss))
        return pbt_winner(run, plan, members, budget)
    if search.method is SearchMethod.pbt:
        space, config = pbt_config(search.trials, run.spec.seed, n_train, members)
    elif search.method is SearchMethod.grid:
        space, config = grid_config(search.trials, run.spec.seed, done)
    else:
        space, config = random_config(search.trials - len(done), run.spec.seed, n_train, done)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    resources = {"cpu": 1, "gpu": 1} if gpus else {"cpu": TRIAL_THREADS}
    trial = tune.with_parameters(
        train_trial, root=str(run.workspace.root), task=run.task.to_plain(), plan=plan.to_dict(), budget=budget, pbt=pbt
    )
    trial.__name__ = f"task_{run.task.id}"  # Tune registers trainables by name, per job: two searches at once must differ
    again = f" (going on from {len(done)} trials run before it was interrupted)" if done else ""
    again = again or (f" (going on from round {members[0].info.epoch + 2}, each member from its checkpoint)" if members else "")
    run.sink.status(f"Hyperparameter search on Ray Tune: {search.method.value}, {search.trials} trials{again}, {resources} each")
    mirror, stopper = MirrorTrials(run, pbt, budget, first=len(done)), UserStop(run.sink.stop_requested)
    if config.num_samples > 0:
        Tuner(
            tune.with_resources(trial, resources),
            param_space=space,
            tune_config=config,
            run_config=RunConfig(storage_path=str(storage), name="search", stop=stopper, callbacks=[mirror], verbose=0),
        ).fit()
        if stopper.requested:
            raise TaskStopped()
    if pbt:
        plan = pbt_winner(run, plan, last_checkpoints(storage / "search"), budget)
    else:
        best = min(run.sink.events(SearchTrialEvent), key=lambda t: t.valid_loss)  # these trials and those before
        params = {"lr": best.params["lr"], "weight_decay": best.params["weight_decay"], "batch_size": int(best.params["batch_size"])}
        plan = winner_plan(plan, params, f"Search on Ray Tune ({search.method.value}, {search.trials} trials)")
    shutil.rmtree(storage, ignore_errors=True)  # done: the plan (and a PBT winner's weights) are kept elsewhere
    return plan


@dataclass(frozen=True)
class MemberState:
    """A PBT member's checkpoint set: what its checkpoint.json says, and where the set lies."""

    info: CheckpointInfo
    folder: Path


def last_checkpoints(experiment: Path) -> list[MemberState]:
    """Each PBT member at its latest checkpoint (our checkpoint.json): its settings, epoch, loss and folder."""
    latest: dict[str | None, MemberState] = {}
    for info_file in experiment.glob("*/checkpoint_*/set/checkpoint.json"):
        info = read_info(info_file.parent)
        if info.member not in latest or info.epoch > latest[info.member].info.epoch:
            latest[info.member] = MemberState(info, info_file.parent)
    return list(latest.values())


def population_at_last_round(experiment: Path, keep: Path, size: int) -> list[MemberState]:
    """An interrupted PBT's `size` members at the last round every member had finished (our checkpoint.json files in
    Tune's folder, copied to `keep`), in the order Tune created them; none unless every member had finished one."""
    by_trial: dict[str, dict[int, Path]] = {}
    for info_file in experiment.glob("*/checkpoint_*/set/checkpoint.json"):
        by_trial.setdefault(info_file.parents[2].name, {})[read_info(info_file.parent).epoch] = info_file.parent
    if len(by_trial) < size:
        return []
    last = min(max(epochs) for epochs in by_trial.values())
    shutil.rmtree(keep, ignore_errors=True)
    members = []
    for i, (_, epochs) in enumerate(sorted(by_trial.items())):
        reached = [e for e in epochs if e <= last]
        if reached:
            folder = keep / str(i)
            shutil.copytree(epochs[max(reached)], folder)
            members.append(MemberState(read_info(folder), folder))
    return members


def pbt_winner(run: Run, plan: Plan, members: list[MemberState], budget: int) -> Plan:
    """The member with the lowest last loss: its settings, and its weights saved for the run to continue from."""
    best = min(members, key=lambda m: m.info.valid_loss if m.info.valid_loss is not None else float("inf"))
    params = {k: best.info.params[k] for k in SETTINGS}
    shutil.copyfile(best.folder / "last.safetensors", run.folder / SEARCH_WINNER)
    return winner_plan(
        plan, params, f"Population-based training on Ray Tune ({run.spec.search.trials} members, {budget} epochs each)", budget
    )


GOAL = {"metric": "valid_loss", "mode": "min"}


def random_config(trials: int, seed: int, n_train: int, done: list[SearchTrialEvent]) -> tuple[dict[str, Any], TuneConfig]:
    """Optuna's random sampler inside Tune, told the trials run before; median stopping, as Optuna's pruner in-process."""
    points = [t.params | {"batch_size": int(t.params["batch_size"])} for t in done]
    before = {"points_to_evaluate": points, "evaluated_rewards": [t.valid_loss for t in done]} if done else {}
    algo = OptunaSearch(space=search_space(False, n_train), sampler=sampler_for(SearchMethod.random, seed)[0], **GOAL, **before)
    stopping = MedianStoppingRule(time_attr="training_iteration", grace_period=1, min_samples_required=2, **GOAL)
    return {}, TuneConfig(num_samples=max(0, trials), search_alg=algo, scheduler=stopping, reuse_actors=True)


def grid_config(trials: int, seed: int, done: list[SearchTrialEvent]) -> tuple[dict[str, Any], TuneConfig]:
    """Optuna's grid sampler inside Tune; going on, the cells not run yet, one trial each."""
    if not done:
        algo = OptunaSearch(space=search_space(True, 0), sampler=sampler_for(SearchMethod.grid, seed)[0], **GOAL)
        return {}, TuneConfig(num_samples=trials, search_alg=algo, reuse_actors=True)
    ran = {tuple(float(t.params[k]) for k in GRID) for t in done}
    cells = [dict(zip(GRID, cell, strict=True)) for cell in itertools.product(*GRID.values())]
    left = [c for c in cells if tuple(float(v) for v in c.values()) not in ran][: max(0, trials - len(done))]
    algo = OptunaSearch(space=search_space(True, 0), points_to_evaluate=left, **GOAL)
    return {}, TuneConfig(num_samples=len(left), search_alg=algo, reuse_actors=True)


def pbt_config(trials: int, seed: int, n_train: int, members: list[MemberState]) -> tuple[dict[str, Any], TuneConfig]:
    """Tune's PopulationBasedTraining with search.py's exploration; the population drawn from random search's space,
    or, going on after an interruption, the members as they were at the last round all had finished."""
    explore_with = Explore(seed)
    scheduler = PopulationBasedTraining(
        time_attr="training_iteration",
        perturbation_interval=1,
        quantile_fraction=0.25,
        resample_probability=0.0,
        custom_explore_fn=explore_with,
    )
    config = TuneConfig(metric="valid_loss", mode="min", num_samples=trials, scheduler=scheduler, reuse_actors=True)
    if not members:
        return {name: tune_domain(d) for name, d in search_space(False, n_train).items()}, config
    config.num_samples = 1  # one trial per member: the grid over them
    space: dict[str, Any] = {"member": tune.grid_search(list(range(len(members))))}
    for key in SETTINGS:
        space[key] = tune.sample_from(lambda spec, key=key: members[spec.config["member"]].info.params[key])
    space["start"] = tune.sample_from(lambda spec: str(members[spec.config["member"]].folder))
    return space, config


def tune_domain(d: optuna.distributions.BaseDistribution) -> Any:
    if isinstance(d, optuna.distributions.FloatDistribution):
        return tune.loguniform(d.low, d.high) if d.log else tune.uniform(d.low, d.high)
    return tune.choice(list(d.choices))


class Explore:
    """search.py's exploration for Tune's PBT, from a seeded stream."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        return config | explore(config, self.rng)


def train_trial(config: dict[str, Any], root: str, task: dict[str, Any], plan: dict[str, Any], budget: int, pbt: bool) -> None:
    """One trial, in a Tune trial process: its settings on a fresh network (or a member's checkpoint), reporting
    the validation loss every epoch."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cpus = tune.get_context().get_trial_resources().required_resources.get("CPU", TRIAL_THREADS)
    torch.set_num_threads(max(1, int(cpus)))
    base = Plan.from_dict(plan)
    factory = prepared_factory(root, task, base)
    params = {k: config[k] for k in SETTINGS}
    trial_plan = replace(base, **params, epochs=budget, early_stop=False, lr_find_iters=0, notes=[])
    if not pbt:
        learn = factory.learner(factory.model(), trial_plan)
        fit(learn, trial_plan, [TrialCallback(lambda epoch, loss: _report(epoch, loss), lambda: False)])
        return
    member_plan = trial_plan.but(epochs=1, schedule=Schedule.constant)
    learn = factory.learner(factory.model(), member_plan)
    learn.create_opt()
    me, start, copied = tune.get_context().get_trial_id(), 0, ""
    info = None
    if (checkpoint := tune.get_checkpoint()) is not None:
        with checkpoint.as_directory() as folder:
            info = load_checkpoint(Path(folder) / "set", learn.model, learn.opt)
        copied = "" if info.member == me else (info.member or "")
    elif config.get("start"):  # an interrupted population going on: this member's checkpoint
        info = load_checkpoint(Path(config["start"]), learn.model, learn.opt)
    if info is not None:
        start = info.epoch + 1
        learn.opt.set_hyper("lr", params["lr"])  # the loaded optimizer state carries the member's old settings
        learn.opt.set_hyper("wd", params["weight_decay"])
    for epoch in range(start, budget):
        trial = TrialCallback(lambda *_: False, lambda: False)
        fit(learn, member_plan, [trial])
        report_member(learn, epoch, trial.best, me, params, copied)
        copied = ""


def report_member(learn: Any, epoch: int, loss: float, me: str, params: dict[str, Any], copied: str) -> None:
    """A PBT member's round: its loss, with its weights and optimizer state as the checkpoint (our own format)."""
    with tempfile.TemporaryDirectory() as folder:
        info = CheckpointInfo(epoch=epoch, member=me, valid_loss=loss, params=params)
        save_checkpoint(Path(folder) / "set", *snapshot(learn.model, learn.opt), info)
        tune.report({"valid_loss": loss, "epoch": epoch, "copied_from": copied}, checkpoint=Checkpoint.from_directory(folder))


_FACTORIES: dict[tuple[str, int], Factory] = {}


def prepared_factory(root: str, task: dict[str, Any], plan: Plan) -> Factory:
    """The task's run rebuilt from the cache, once per trial process: Tune reuses a process for the next trial
    of the same search, which then starts training at once."""
    key = (root, task["id"])
    if key not in _FACTORIES:
        run = Run.start(WorkspacePaths(root), QuietSink(task["id"]), TaskRow.from_plain(task))
        _FACTORIES.clear()  # one search's data per process
        _FACTORIES[key] = prepare(run, plan)  # the pipeline's first stage (pipeline.py), the trial trains the rest
    return _FACTORIES[key]


def _report(epoch: int, loss: float) -> bool:
    tune.report({"valid_loss": loss, "epoch": epoch})
    return False  # Tune's scheduler, not the trial, decides to stop it


def number(trials: list, trial_id: str) -> int:
    """A trial's number: its place among the experiment's trials, in the order Tune created them."""
    return next((i for i, t in enumerate(trials) if t.trial_id == trial_id), len(trials))


class NotSaved:
    """Tune saves its experiment state (callbacks and stopper included) with pickle, to resume it; nothing here
    resumes it, and what reports to the store has no business in that file."""

    def __getstate__(self) -> dict[str, Any]:
        return {}


class MirrorTrials(NotSaved, Callback):
    """Each trial's results as the store's search_trial events: per round (PBT), or once a trial ends."""

    def __init__(self, run: Run, pbt: bool, budget: int, first: int = 0):
        self.run, self.pbt, self.budget, self.first = run, pbt, budget, first  # `first`: the number of this search's first trial
        self.ended = 0
        self.history: dict[str, list[str]] = {}
        self.best: dict[str, float] = {}

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        loss = float(result["valid_loss"])
        self.best[trial.trial_id] = min(loss, self.best.get(trial.trial_id, loss))
        if not self.pbt:
            return
        history = self.history.setdefault(trial.trial_id, [])
        if result.get("copied_from"):
            history.append(f"round {int(result['epoch']) - 1}: copied member {number(trials, result['copied_from'])}")
        params = {k: float(trial.config[k]) for k in SETTINGS}
        member, round_ = number(trials, trial.trial_id), int(result["epoch"])
        self.run.sink.event(SearchTrialEvent(trial=member, round=round_, params=params, valid_loss=loss, history=list(history)))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self.pbt or trial.trial_id not in self.best:
            return
        done = int((trial.last_result or {}).get("epoch", -1)) + 1
        params = {k: float(trial.config[k]) for k in SETTINGS}
        pruned = done < self.budget  # stopped early (the median rule, or the user's stop)
        number_ = self.first + self.ended  # numbered as they end, after those of an interrupted search's first part
        self.ended += 1
        self.run.sink.event(SearchTrialEvent(trial=number_, params=params, valid_loss=self.best[trial.trial_id], pruned=pruned))


class UserStop(NotSaved, Stopper):
    """Ends the whole search when the user stops the task (asked at most once a second)."""

    def __init__(self, stop_requested: Any):
        self.stop_requested, self.requested, self.asked = stop_requested, False, 0.0

    def __call__(self, trial_id: str, result: dict) -> bool:
        return self.stop_all()

    def stop_all(self) -> bool:
        if not self.requested and time.monotonic() - self.asked >= 1.0:
            self.asked, self.requested = time.monotonic(), bool(self.stop_requested())
        return self.requested
