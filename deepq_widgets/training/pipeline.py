"""A run's stages in their order, written once: prepare data -> plan -> build -> fit -> final fits ->
evaluate -> register. Every caller runs a slice of it: the worker all of it (runner.py), a search on Ray up
to the plan, a data-parallel fit's other ranks from the recorded plan to the final fits (rank.py), and a
Tune trial only the prepared data (tune_search.py).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import IntEnum

from ..contracts import Evaluation, Plan
from . import distributed
from .conclude import Refit, evaluate_best, final_fits, finish
from .folds import Members
from .planning import plan_run
from .run_types import Built, Fitted, Run
from .stages import Factory, build, prepare, train


class Stage(IntEnum):
    """The stages, in their order."""

    prepare = 1  # the dataset checked, decoded into the cache, split; the plan's starting point
    plan = 2  # the plan, or a search's winner over it
    build = 3  # the network and its learner, resumed from a checkpoint when there is one
    fit = 4  # the validated fit (on several devices: with the other ranks)
    final_fits = 5  # a refit on every case, or a k-fold ensemble's other members (with the other ranks)
    evaluate = 6  # the kept weights on the validation cases (and a sample of the training cases)
    register = 7  # evaluation.json, the model card, the registry


@dataclass
class Made:
    """What the stages run so far have made; each stage reads what the stages before it made."""

    run: Run
    factory: Factory | None = None  # its `prepared`: the data, split and plan the first stage made
    plan: Plan | None = None
    built: Built | None = None
    fitted: Fitted | None = None
    final: Refit | None = None
    members: Members | None = None
    evaluation: Evaluation | None = None


def run_until(run: Run, last: Stage = Stage.register, recorded: Plan | None = None, together: AbstractContextManager | None = None) -> Made:
    """Run the stages from the first to `last`. `recorded`: the plan rank 0 recorded, which the other ranks of a
    data-parallel fit (and a Tune trial) train instead of planning. The fit and the final fits run `together`
    with the other ranks: by default rank 0 starts them (nothing to start on one device); another rank passes
    its membership of rank 0's group (`distributed.joined`)."""
    made = Made(run, prepare(run, recorded))
    if last is Stage.prepare:
        return made
    made.plan = recorded or plan_run(run, made.factory)
    if last is Stage.plan:
        return made
    made.built = build(run, made.factory, made.plan)
    if last is Stage.build:
        return made
    with together or distributed.ranks(run.workspace.root, run.task, run.folder, made.plan, run.device):
        made.fitted = train(run, made.built, made.factory.prepared.data.classes)
        if last >= Stage.final_fits:
            made.final, made.members = final_fits(run, made.factory, made.built)
    if last >= Stage.evaluate:
        made.evaluation = evaluate_best(run, made.factory, made.built, made.fitted, made.members)
    if last >= Stage.register:
        finish(run, made.factory, made.built, made.fitted, made.evaluation, made.final, made.members)
    return made
