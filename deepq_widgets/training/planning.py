"""Stage 2 of a run: the plan. The policy's plan, the plan a resumed run trained with, or the
settings a hyperparameter search (grid, random, population-based) chose."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from ..autoplan import Plan
from ..contracts import CheckpointInfo, SearchTrialEvent
from ..files import atomic_write_text
from ..spec import Schedule, SearchMethod
from .callbacks import TrialCallback
from .checkpoint import load_checkpoint, load_weights, model_state, save_checkpoint, snapshot
from .distributed import DEVICES_NOTE_STARTS, devices_for
from .learner import fit
from .run_types import Run, TaskStopped
from .search import population_based, search_epochs, tune, winner_plan
from .stages import SEARCH_WINNER, Factory

SEARCHED = "search.json"  # the plan a finished search chose


def plan_run(run: Run, factory: Factory) -> Plan:
    """The prepared plan, or the settings a search chose over it (a resumed run keeps its plan), on the
    devices this machine has for it."""
    plan, method = factory.prepared.plan, run.spec.search.method
    if factory.prepared.resumed:
        pass
    elif (searched := searched_plan(run)) is not None:
        plan = searched
    elif method is not SearchMethod.none:
        plan = search_on_ray(run, factory, plan) if on_ray() else in_process(run, factory, plan)
        atomic_write_text(json.dumps(plan.to_dict()), run.folder / SEARCHED)
    return on_devices(run, plan)


def in_process(run: Run, factory: Factory, plan: Plan) -> Plan:
    if run.spec.search.method is SearchMethod.pbt:
        return population_search(run, factory, plan)
    return trial_search(run, factory, plan)


def search_on_ray(run: Run, factory: Factory, plan: Plan) -> Plan:
    from .tune_search import tune_search  # imports Ray: only where the task runs on it

    return tune_search(run, factory, plan)


def on_ray() -> bool:
    """This run is a Ray task (ray_tasks.py): its search runs its trials on the cluster."""
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()


def searched_plan(run: Run) -> Plan | None:
    """The plan a finished search chose for this task (on Ray the search runs before the run that trains)."""
    path = run.folder / SEARCHED
    return Plan.from_dict(json.loads(path.read_text())) if path.is_file() else None


def on_devices(run: Run, plan: Plan) -> Plan:
    """The ranks the fit has here (the task's `devices`, as far as this machine goes), said in the plan's notes."""
    devices, note = devices_for(run.spec.devices, run.device, plan.hyper.batch_size)
    notes = [n for n in plan.notes if not n.startswith(DEVICES_NOTE_STARTS)]  # a resumed run says it again
    return plan.but(devices=devices, notes=notes + ([note] if note else []))


def _report(run: Run):
    return lambda trial: run.sink.event(SearchTrialEvent(**trial))


def trial_search(run: Run, factory: Factory, plan: Plan) -> Plan:
    """Optuna trials on short fits; the best learning rate, weight decay and batch size train the full run."""
    search, n_train = run.spec.search, len(factory.prepared.split.train)
    run.sink.status(f"Hyperparameter search: {search.method.value}, up to {search.trials} trials")

    def train_trial(trial_plan: Plan, on_epoch) -> float:
        learn = factory.learner(factory.model(), trial_plan)
        cb = TrialCallback(on_epoch, run.sink.stop_requested)
        fit(learn, trial_plan, [cb])
        if cb.stopped_by_user:
            raise TaskStopped()
        return cb.best

    best = tune(plan, search.method, search.trials, n_train, run.spec.seed, train_trial, _report(run))
    return winner_plan(plan, best, f"Search ({search.method.value}, {search.trials} trials)")


def population_search(run: Run, factory: Factory, plan: Plan) -> Plan:
    """PBT over `spec.search.trials` members; returns the plan for the rest of the run and writes
    the winner's weights to `search_winner.safetensors`. Member states are checkpoints on disk
    (weights and optimizer), so a population of large networks does not have to fit in memory."""
    members, n_train = run.spec.search.trials, len(factory.prepared.split.train)
    run.sink.status(f"Population-based training: {members} members, {search_epochs(plan)} rounds")
    model = factory.model()
    fresh, population_dir, names = model_state(model), run.folder / "population", itertools.count()

    def train_member(params: dict[str, Any], state: Path | None) -> tuple[Path, float]:
        member_plan = plan.but(**params, epochs=1, schedule=Schedule.constant, early_stop=False, lr_find_iters=0, notes=[])
        learn = factory.learner(model, member_plan)
        learn.create_opt()
        if state is None:
            load_weights(learn.model, fresh)
        else:
            load_checkpoint(state, learn.model, learn.opt)
        cb = TrialCallback(lambda *_: False, run.sink.stop_requested)
        fit(learn, member_plan, [cb])
        if cb.stopped_by_user:
            raise TaskStopped()
        out = population_dir / str(next(names))  # never overwritten: several members may start from one state
        save_checkpoint(out, *snapshot(learn.model, learn.opt), CheckpointInfo(valid_loss=cb.best))
        return out, cb.best

    winner = population_based(
        plan, members, n_train, run.spec.seed, train_member, _report(run), discard=lambda state: shutil.rmtree(state, ignore_errors=True)
    )
    os.replace(winner.state / "last.safetensors", run.folder / SEARCH_WINNER)
    shutil.rmtree(population_dir)
    done = search_epochs(plan)
    return winner_plan(
        plan, winner.params, f"Population-based training ({members} members, {done} epochs each; member {winner.id} won)", done
    )
