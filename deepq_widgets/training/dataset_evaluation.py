"""Score a registered model on a labelled dataset it never trained on (DeepQ's batch inference
with its inference insight report).

The cases go through the training cache and the task kind's evaluation, so the figures,
per-class table, curves and gallery are those of the task detail, at the operating point
chosen on validation. Cases that share image files (by content), patients or studies with what
the model trained or was selected on are left out and counted (their figures would flatter the
model), or scored and said to be when asked (`include_seen`); a dataset seen whole is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from .. import kinds
from ..autoplan import STUDY_BATCH, STUDY_SLICES, scored_slices
from ..contracts import DatasetEvaluation, TrainingManifest
from ..data.cache import build_cache
from ..data.cases import Case
from ..data.catalog import DatasetInfo, scan_dataset
from ..data.hashing import file_sha256
from ..evaluations import evaluation_path, read_card, read_manifest
from ..files import atomic_write_text
from ..workspace import WorkspacePaths
from .evaluate import evaluate, inference_network
from .loaders import BatchLoader, best_device
from .registry import load_model
from .subgroups import subgroups_of

BATCH = 64
Progress = Callable[[str, int, int], None]  # (stage: "decoding" or "scoring", done, total)


class EvaluationRefused(ValueError):
    """The dataset cannot score this model; the message says why."""


def evaluate_dataset(
    workspace: WorkspacePaths,
    model_id: str,
    dataset: str,
    progress: Progress | None = None,
    include_seen: bool = False,
    calibrated: bool = True,
) -> DatasetEvaluation:
    """Evaluate `model_id` on the usable cases of `dataset` it never trained or was selected on (every one with
    `include_seen`, said in the result), with its temperature unless `calibrated=False`; stored as
    models/<id>/evaluations/<dataset>.json."""
    card = read_card(workspace, model_id)
    kind = kinds.get(card.task)
    info = scan_dataset(workspace, dataset)
    reason = kind.dataset_problem(info)
    if reason is None and set(info.classes) != set(card.classes):
        reason = f"its classes ({', '.join(info.classes)}) differ from the model's ({', '.join(card.classes)})"
    if reason:
        raise EvaluationRefused(f"dataset {dataset!r} cannot score model {model_id!r}: {reason}")
    info, overlap = unseen_cases(read_manifest(workspace, model_id), info, include_seen)
    info = replace(info, classes=list(card.classes))  # the model's class order

    def report(stage: str) -> Callable[[int, int], None] | None:
        return None if progress is None else lambda done, total: progress(stage, done, total)

    data = build_cache(
        info, workspace.root / "cache", card.image_size, card.windows, channels=card.channels, masks=kind.masks, progress=report("decoding")
    )
    if not data.cases:
        raise EvaluationRefused(f"no case of dataset {dataset!r} could be decoded: " + "; ".join(data.problems[:3]))
    model, scored = load_model(workspace, model_id, calibrated)  # `scored`: the thresholds on these probabilities
    device = best_device()
    every = list(range(len(data.cases)))
    if kind.volumes:  # studies: a few at a time, each on as many slices as the task scored its validation studies on
        slices = scored_slices(card.spec.hyper.slices if card.spec else STUDY_SLICES)
        context = int(getattr(model, "context", 0))  # a 2.5D network reads each slice with this many neighbours
        loader = BatchLoader(data, every, kind.trainer.targets, STUDY_BATCH, card.mean, card.std, slices=slices, context=context).to(device)
    else:
        loader = BatchLoader(data, every, kind.trainer.targets, BATCH, card.mean, card.std).to(device)
    network = inference_network(model.to(device), kind.trainer, loader)
    found = evaluate(network, loader, kind.trainer, card.classes, scored.thresholds, progress=report("scoring"))
    found.subgroups = subgroups_of(found, data.cases)
    result = DatasetEvaluation(
        **found.model_dump(exclude_unset=True),  # a per-class row keeps only the figures its kind has
        model_id=model_id,
        dataset=dataset,
        overlap=overlap,
        created=time.time(),
    )
    path = evaluation_path(workspace, model_id, dataset)
    path.parent.mkdir(exist_ok=True)
    atomic_write_text(result.model_dump_json(by_alias=True, exclude_unset=True, indent=2), path)
    return result


def unseen_cases(manifest: TrainingManifest | None, info: DatasetInfo, include_seen: bool) -> tuple[DatasetInfo, list[str]]:
    """The cases of `info` that share no image file (by content), patient or study with what the model trained or
    was selected on, and what to say of the others. Figures on seen cases would flatter the model (an AUROC of 0.88
    on training cases beside an honest 0.82), so they are left out, or, with `include_seen`, kept and said to be."""
    if manifest is None:
        return info, ["The model's training cases are not recorded (it was registered before they were), so overlap was not checked."]
    trained, patients, studies = set(manifest.files_sha256), set(manifest.patients), set(manifest.studies)

    def seen(case: Case) -> bool:
        shared = (case.patient and case.patient in patients) or (case.study and case.study in studies)
        return bool(shared) or any(file_sha256(f) in trained for f in case.files)

    usable = info.usable
    seen_cases = [c for c in usable if seen(c)]
    if not seen_cases:
        return info, []
    noun = "studies" if info.volumes else "cases"
    names = ", ".join(Path(c.title).name for c in seen_cases[:3])
    shared = (
        f"{len(seen_cases)} of the {len(usable)} {noun} share image files (same content), patients or studies with the data "
        f"the model trained or was selected on (e.g. {names})"
    )
    if include_seen:
        return info, [f"{shared}: scored all the same, so these figures overstate how it does on new {noun}."]
    left_out = {id(c) for c in seen_cases}
    unseen = [c for c in usable if id(c) not in left_out]
    if not unseen:
        raise EvaluationRefused(
            f"every one of the {len(usable)} {noun} of {info.name!r} was used to train or select the model, so figures on them would "
            f"only restate its training: evaluate it on {noun} it never saw (its validation figures are the honest ones)."
        )
    return replace(info, cases=unseen), [f"Scored on the {len(unseen)} of {len(usable)} {noun} the model never saw: {shared}, left out."]
