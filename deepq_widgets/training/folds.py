"""Stage 5b of a run: a k-fold ensemble (`plan.hyper.folds` > 1), the alternative to a refit on every case.

The validated fit is member 1: it trained on every fold but the first and chose its number of epochs
on that one. Each other member is a fresh network trained on every fold but its own, for that many
epochs (nothing of its own fold touches its training), then scored on its fold. The figures are
out-of-fold: every case scored once, by the member that never trained on it, so they rest on all the
cases instead of one validation fold (an interval about half as wide at k = 5). The registered
model averages the members' probabilities (ensemble.py).

Finished members are kept in the task's folder, so a stopped or failed task resumes at the member it
was training. In a data-parallel task every rank trains every member; only rank 0 writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from ..contracts import Evaluation
from ..data.splits import Folds
from . import callbacks as cb
from .checkpoint import atomic_save_tensors, complete_tensors, load_weights, model_state
from .ensemble import Ensemble
from .evaluate import evaluate_parts
from .learner import fit
from .run_types import Built, Prepared, Run, TaskStopped
from .stages import Factory, stop_and_parallel

MEMBERS = "members"  # the task folder's finished members: <i>.safetensors, i = 1 .. k-1 (member 0 is the validated fit)


@dataclass
class Members:
    """The members trained after the validated fit, on disk."""

    folder: Path
    folds: Folds
    epochs: int

    def network(self, factory: Factory, i: int) -> torch.nn.Module:
        model = factory.model(pretrained=False)
        load_weights(model, load_file(str(self.folder / f"{i}.safetensors")))
        return model

    def ensemble(self, factory: Factory, first: torch.nn.Module) -> Ensemble:
        """The registered model: the validated fit and every other member, averaged."""
        others = [self.network(factory, i) for i in range(1, len(self.folds.parts))]
        return Ensemble([first, *others], factory.trainer.ensemble_activation)

    def note(self) -> str:
        k = len(self.folds.parts)
        return (
            f" Out-of-fold figures of a {k}-fold ensemble: each case was scored by the one of its {k} members that never "
            f"trained on it (member 1, the validated fit, chose its epoch on its fold; members 2-{k} trained {self.epochs} "
            f"epochs without their fold). The registered model averages the {k} members, so it is usually a little better "
            "than these figures of one member each; it has seen every case: to score it on cases it never saw, evaluate it "
            "on an independent dataset."
        )


def train_members(run: Run, factory: Factory, built: Built, epochs: int) -> Members | None:
    """When the plan asks for k folds: members 2..k, each trained for the validated fit's `epochs`."""
    folds = factory.prepared.folds
    if folds is None:
        return None
    plan = built.plan.but(epochs=epochs, early_stop=False, lr_find_iters=0, notes=[])
    folder, k = run.folder / MEMBERS, len(folds.parts)
    for i in range(1, k):
        path = folder / f"{i}.safetensors"
        if complete_tensors(path):  # trained before the task was stopped or failed
            continue
        split = folds.split(i)
        run.sink.status(
            f"Ensemble member {i + 1} of {k}: {epochs} epoch{'s' * (epochs > 1)} on {len(split.train)} cases, "
            f"scored on the {len(split.valid)} left out"
        )
        learn = factory.learner(factory.model(), plan, split)
        stop, parallel = stop_and_parallel(run)
        fit(learn, plan, [cb.StopOnDivergence(), stop, *parallel])
        if stop.requested:
            raise TaskStopped()
        if run.rank == 0:
            folder.mkdir(exist_ok=True)
            atomic_save_tensors(model_state(learn.model), path)
    return Members(folder, folds, epochs)


def evaluate_out_of_fold(run: Run, factory: Factory, built: Built, members: Members) -> Evaluation:
    """Every case scored by the member that left it out; the operating point chosen on all of them."""
    prepared: Prepared = factory.prepared
    valid = built.learn.dls.valid
    parts = []
    for i, part in enumerate(members.folds.parts):
        loader = valid.over(part)
        parts.append((built.learn.model if i == 0 else members.network(factory, i).to(valid.device), loader))
    evaluation = evaluate_parts(parts, run.kind.trainer, prepared.data.classes, operating_point=run.spec.operating_point)
    evaluation.source = f"All {len(prepared.data.cases)} cases, out of fold." + members.note()
    if evaluation.scores is not None:
        evaluation.scores.out_of_fold = True
    return evaluation
