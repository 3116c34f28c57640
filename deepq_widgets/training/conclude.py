"""Stages 5 to 7 of a run: refit on every case or train a k-fold ensemble (when planned), evaluate, register the model.

Split from stages.py, which prepares, builds and fits; `runner.run_task` calls both in order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..autoplan import Plan
from ..calibration import tempered_threshold
from ..contracts import EpochEvent, Evaluation, ModelCard, Progress, TrainingManifest
from ..data.cache import CachedData
from ..data.hashing import file_sha256
from ..data.splits import Split
from ..evaluations import CASE_SCORES
from ..files import atomic_write_text
from . import distributed
from .checkpoint import best_weights, load_weights
from .evaluate import evaluate
from .folds import Members, evaluate_out_of_fold, train_members
from .learner import fit
from .registry import model_id_for, register_model
from .run_types import Built, Fitted, Prepared, Run, TaskStopped
from .stages import CHECKPOINT, Factory, stop_and_parallel
from .subgroups import subgroups_of

TRAINING_EVALUATION_CASES = 500  # enough for the training-set view, bounded on a large dataset


def evaluate_best(run: Run, factory: Factory, built: Built, fitted: Fitted, members: Members | None = None) -> Evaluation:
    """The best epoch's weights on the validation cases (a k-fold ensemble: every member on its fold): evaluation.json."""
    model, prepared = built.learn.model, factory.prepared
    if fitted.best_state is not None:
        load_weights(model, fitted.best_state)
    elif (kept := best_weights(run.folder / CHECKPOINT)) is not None:
        load_weights(model, kept)
    if members is not None:
        evaluation = evaluate_out_of_fold(run, factory, built, members)
    else:
        valid = built.learn.dls.valid
        evaluation = evaluate(model, valid, run.kind.trainer, prepared.data.classes, operating_point=run.spec.operating_point)
        n_valid, n_all = len(prepared.split.valid), len(prepared.data.cases)
        evaluation.source = f"{n_valid} validation cases that the network never trained on ({n_all - n_valid} training cases)."
    evaluation.training = evaluate_on_training_cases(run, prepared, built, evaluation.thresholds)
    evaluation.subgroups = subgroups_of(evaluation, prepared.data.cases)
    return evaluation


def evaluate_on_training_cases(run: Run, prepared: Prepared, built: Built, thresholds: list[float] | None) -> Evaluation:
    """The same weights at the same operating point on (a seeded sample of) the cases they trained on, without
    augmentation: DeepQ's "Training set" view. Its gap to the validation figures is the over-fit."""
    train = prepared.split.train
    if len(train) > TRAINING_EVALUATION_CASES:
        train = sorted(np.random.default_rng(run.spec.seed).choice(train, TRAINING_EVALUATION_CASES, replace=False).tolist())
    valid = built.learn.dls.valid
    loader = valid.over(train)
    found = evaluate(built.learn.model, loader, run.kind.trainer, prepared.data.classes, thresholds=thresholds)
    sampled = f"{len(train)} of the {len(prepared.split.train)}" if len(train) < len(prepared.split.train) else f"All {len(train)}"
    found.source = (
        f"{sampled} training cases, without augmentation, at the validation operating point. The network trained on "
        "these cases: the figures are optimistic, and their gap to the validation figures measures over-fitting."
    )
    return found


@dataclass
class Refit:
    model: torch.nn.Module
    epochs: int
    cases: int

    def note(self) -> str:
        return (
            f" The registered model was then refit on all {self.cases} cases for {self.epochs} epochs, so it has seen these "
            "cases: the figures describe the validated fit, a slightly smaller model of the data."
        )


def validated_epochs(run: Run, plan: Plan) -> int:
    """The epochs the validated fit chose: its best epoch's (all of them when none was best)."""
    best = [e.epoch for e in run.sink.events(EpochEvent) if e.best]
    epochs = max(best) + 1 if best else plan.hyper.epochs
    if (group := distributed.current()) is not None:
        epochs = int(group.leaders([epochs])[0])  # rank 0's epoch log is the one written
    return epochs


def refit(run: Run, factory: Factory, built: Built) -> Refit | None:
    """When the plan says so: a fresh network trained on every case for as many epochs as the validated
    fit's best (AutoGluon's refit_full). None otherwise. Its figures stay those of the validated fit."""
    plan = built.plan
    if not plan.hyper.refit:
        return None
    split = factory.prepared.split
    everything = Split(sorted([*split.train, *split.valid]), split.valid, split.grouped_by)
    again = plan.but(epochs=validated_epochs(run, plan), early_stop=False, lr_find_iters=0, notes=[])
    run.sink.status(f"Refitting on all {len(everything.train)} cases for {again.hyper.epochs} epochs, the validated fit's best")
    learn = factory.learner(factory.model(), again, everything)
    stop, parallel = stop_and_parallel(run)
    fit(learn, again, [stop, *parallel])
    if stop.requested:
        raise TaskStopped()
    return Refit(learn.model, again.hyper.epochs, len(everything.train))


def final_fits(run: Run, factory: Factory, built: Built) -> tuple[Refit | None, Members | None]:
    """After the validated fit, what the plan asks for the final model: a refit on every case, or the other
    members of a k-fold ensemble (or neither)."""
    members = train_members(run, factory, built, validated_epochs(run, built.plan)) if built.plan.hyper.folds > 1 else None
    return refit(run, factory, built), members


def finish(
    run: Run, factory: Factory, built: Built, fitted: Fitted, evaluation: Evaluation, final: Refit | None, members: Members | None = None
) -> ModelCard:
    """Write the evaluation and register the model (the refit network, or the ensemble, when there is one)."""
    model = built.learn.model
    if final is not None:
        model = final.model
        evaluation.source += final.note()
    if members is not None:
        model = members.ensemble(factory, model)
    prepared = factory.prepared
    data, spec = prepared.data, run.spec
    atomic_write_text(evaluation.model_dump_json(by_alias=True, exclude_unset=True, indent=2), run.folder / "evaluation.json")
    if evaluation.scores is not None:
        atomic_write_text(evaluation.scores.model_dump_json(), run.folder / CASE_SCORES)
    card = ModelCard(
        id=model_id_for(spec.name, run.task.id),
        name=spec.name,
        task=spec.task,
        arch=prepared.arch,
        classes=data.classes,
        image_size=built.plan.image_size,
        channels=data.channels,
        members=len(members.folds.parts) if members else 1,
        windows=spec.windows,
        mean=prepared.mean,
        std=prepared.std,
        metrics=evaluation.metrics,
        thresholds=calibrated_thresholds(evaluation),
        temperature=evaluation.calibration.temperature if evaluation.calibration else None,
        dataset=spec.dataset,
        dataset_fingerprint=data.fingerprint,
        base_model=spec.model.base_model,
        source_task=run.task.id,
        spec=spec,
    )
    card = register_model(run.workspace, run.sink, model.float().cpu(), card, training_manifest(data))
    run.sink.progress(Progress(progress=1.0, metrics=evaluation.metrics.flat(), model_id=card.id, compute_s=fitted.compute_s))
    return card


def calibrated_thresholds(evaluation: Evaluation) -> list[float] | None:
    """The operating point on the probabilities the registered model gives: after its temperature, where it has
    one (the same cases are called)."""
    temperature = evaluation.calibration.temperature if evaluation.calibration else None
    if evaluation.thresholds is None or temperature is None:
        return evaluation.thresholds
    return [tempered_threshold(t, temperature) for t in evaluation.thresholds]


def training_manifest(data: CachedData) -> TrainingManifest:
    """The files (by content) and the patients and studies the model trained and was selected on."""
    return TrainingManifest(
        files_sha256=sorted({file_sha256(f) for c in data.cases for f in c.files}),
        patients=sorted({c.patient for c in data.cases if c.patient}),
        studies=sorted({c.study for c in data.cases if c.study}),
    )
