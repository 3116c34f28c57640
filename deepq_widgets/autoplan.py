"""What a run will do: the task file's settings, or in Auto mode a plan from the dataset's fingerprint.

Auto plans the way nnU-Net does, from what the data is rather than from fixed defaults: the
images' native size sets the training size (never upscaled past what helps), the number of
training cases sets the batch and the epochs, the modality the augmentation. Every choice
carries its reason, shown before Start and in the task's training insight.

Pure (no torch): the wizard and `deepq spec` show the plan before a task is submitted, and
the worker runs exactly that plan.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from . import kinds
from .contracts import Plan
from .data.catalog import DatasetInfo
from .data.footprint import CHUNK, cache_bytes, describe_size
from .presets import Preset
from .spec import Augmentation, Flow, Hyperparameters, Modality, Schedule, Search, StudyModel, TaskSpec, Tuning

__all__ = ["Fingerprint", "Plan", "auto_augment", "make_plan", "resolved_spec"]

MIN_SIDE = 64  # below this an ImageNet network's deepest features span a single position
SIDE_STEP = 32  # the largest stride of the zoo's networks
STEP_BUDGET = 100  # optimizer steps an Auto run aims for on a small dataset
MIN_EPOCHS, MAX_EPOCHS = 8, 40
# the hyperparameters an Auto plan sets whatever the task file says (choices.build_spec refuses them under Auto)
AUTO_DECIDES = (
    *("epochs", "batch_size", "lr", "schedule", "weight_decay", "momentum"),
    *("early_stop", "patience", "last_weights", "refit", "folds"),
)
BEST_WEIGHTS_NOTE = (
    "Early stopping on the validation loss, the weights of its lowest epoch kept: the last epoch's did no better over "
    'five draws of two image sets, and took longer (benchmarks/README.md, "Weights kept and ensembles").'
)
BATCH = 32  # the largest Auto batch; smaller sets get smaller batches (at least 4 steps an epoch)
LR_FIND_SHARE, LR_FIND_MIN_ITERS, LR_FIND_MAX_ITERS = 0.2, 24, 100
AUTO_LR, AUTO_WEIGHT_DECAY = 1e-3, 0.01
ENSEMBLE_FOLDS, ENSEMBLE_BELOW = 5, 300  # Auto's ensemble, when asked for: 5 folds, for fewer than 300 cases
STUDY_BATCH, STUDY_SLICES = 8, 16  # studies: at most 8 studies of 16 slices a step (128 slices, as an image batch)
EVAL_SLICES = 64  # a study is scored on every slice up to this many (or 4x its training slices), evenly spread beyond


def study_context(hyper: Hyperparameters) -> int:
    """Neighbours on each side a study network reads with each slice: the plan's context in 2.5D, else none."""
    return hyper.context if hyper.study_model is StudyModel.context else 0


def scored_slices(slices: int) -> int:
    """How many slices of a study validation and evaluation read, when it trains on `slices` a step: encoded a chunk
    at a time without gradients, so this bounds time, not memory."""
    return max(EVAL_SLICES, 4 * slices)


@dataclass(frozen=True)
class Fingerprint:
    """What Auto needs to know about a dataset, from the catalogue (no decoding)."""

    cases: int
    classes: int
    class_counts: dict[str, int]
    native_side: int  # median longest side of the images, in pixels (0 when unknown)
    aspect: float  # median width / height
    channels: int
    modality: Modality
    slices: int = 0  # studies: slices in all (0: the cases are images)
    median_slices: int = 0  # studies: slices in the median study
    slice_labelled: int = 0  # studies that carry slice labels

    @classmethod
    def of(cls, info: DatasetInfo, modality: Modality = Modality.other) -> Fingerprint:
        usable = info.usable
        depths = [c.volume.depth for c in usable if c.volume is not None]
        sides = [max(c.width, c.height) for c in usable if c.width and c.height]
        aspects = [c.width / c.height for c in usable if c.width and c.height]
        return cls(
            cases=len(usable),
            classes=len(info.classes),
            class_counts=dict(info.class_counts),
            native_side=int(statistics.median(sides)) if sides else 0,
            aspect=float(statistics.median(aspects)) if aspects else 1.0,
            channels=info.channels or 1,
            modality=modality,
            slices=sum(depths),
            median_slices=int(statistics.median(depths)) if depths else 0,
            slice_labelled=sum(1 for c in usable if c.volume is not None and c.volume.slice_labels),
        )

    def train_cases(self, valid_pct: int) -> int:
        return max(1, self.cases - round(self.cases * valid_pct / 100))

    def describe(self) -> str:
        side = f"{self.native_side} px (median longest side)" if self.native_side else "of unknown size"
        cases = f"{self.cases} studies of {self.median_slices} slices (median)" if self.slices else f"{self.cases} cases"
        return (
            f"{cases} in {self.classes} classes, images {side}, {self.channels} channel(s), "
            f"modality {self.modality.value}; class balance {balance(self.class_counts)}."
        )


def balance(counts: dict[str, int]) -> str:
    """'1:3.2' (smallest : largest class), the ratio the plan and the insight quote."""
    values = [n for n in counts.values() if n > 0]
    return f"1:{max(values) / min(values):.1f}" if values else "unknown"


def make_plan(spec: TaskSpec, fingerprint: Fingerprint, preset: Preset | None = None) -> Plan:
    """Full Manual: the task file's settings. Auto: a plan from the fingerprint, each choice with its reason."""
    h = spec.hyper
    n_train = fingerprint.train_cases(h.valid_pct)
    if spec.tuning is Tuning.manual:
        plan = Plan(
            h.model_copy(update={"batch_size": min(h.batch_size, n_train)}),
            spec.augment,
            spec.image_size,
            notes=[
                "Full Manual: settings as given in the task file.",
                cache_note(spec, fingerprint, spec.image_size),
                *final_model_note(h.refit, h.folds),
            ],
        )
        return keeping_last_weights(plan, spec.task)

    notes = [f"Dataset: {fingerprint.describe()}"]
    image_size = _image_size(spec, fingerprint, notes)
    notes.append(cache_note(spec, fingerprint, image_size))
    largest = preset.hyper.batch_size if preset else BATCH
    study = study_plan(fingerprint, n_train, largest, notes) if fingerprint.slices else {}
    bs = study.get("batch_size") or max(8, min(largest, n_train // 4) // 8 * 8)
    steps = max(1, n_train // bs)
    epochs = min(max(math.ceil(STEP_BUDGET / steps), MIN_EPOCHS), MAX_EPOCHS)
    notes.append(
        (f"Batch {bs} studies" if study else f"Batch {bs} (a multiple of 8, at least 4 steps an epoch over {n_train} training cases)")
        + f"; {epochs} epochs of {steps} steps, about {STEP_BUDGET} optimizer steps in all."
    )
    notes.append(BEST_WEIGHTS_NOTE)
    lr = preset.hyper.lr if preset else AUTO_LR
    finder = min(int(LR_FIND_SHARE * epochs * steps), LR_FIND_MAX_ITERS)
    if finder < LR_FIND_MIN_ITERS:
        finder = 0
        notes.append(f"Learning rate {lr:g} (AdamW, one-cycle, every layer trained): too few steps for a finder worth its time.")
    else:
        notes.append(f"Learning rate from a {finder}-step finder, kept within a safe band around {lr:g}.")
    augment = preset.augment if preset else auto_augment(spec.auto.modality, fingerprint.channels)
    notes.append(_augment_reason(augment, preset))
    patience = max(4, epochs // 4)
    folds = auto_folds(spec, fingerprint, notes)
    notes += final_model_note(False, folds)
    planned = {"epochs": epochs, "batch_size": bs, "lr": lr, "schedule": Schedule.one_cycle, "weight_decay": AUTO_WEIGHT_DECAY}
    planned |= {"momentum": 0.9, "early_stop": True, "patience": patience, "last_weights": False, "refit": False, "folds": folds}
    planned |= study
    plan = Plan(Hyperparameters.model_validate(h.model_dump() | planned), augment, image_size, lr_find_iters=finder, notes=notes)
    return keeping_last_weights(plan, spec.task)


def keeping_last_weights(plan: Plan, task: str) -> Plan:
    """The plan as run where its kind keeps the last epoch's weights (`TaskKind.last_weights_note`): no early
    stopping, and the plan says why."""
    note = kinds.get(task).last_weights_note(plan.hyper)
    if note is None:
        return plan
    return plan.but(early_stop=False, last_weights=True, notes=[*(n for n in plan.notes if n != BEST_WEIGHTS_NOTE), note])


def study_plan(fingerprint: Fingerprint, n_train: int, largest: int, notes: list[str]) -> dict:
    """Studies: how many slices of each study a step reads, how many studies a step holds, and how the study's call is
    made: multiple-instance learning with attention. 2.5D on slice labels is Full Manual's until it wins the studies
    benchmark (benchmarks/README.md, "Studies": with its last weights it tied MIL on the one embolism draw it ran)."""
    slices = min(fingerprint.median_slices, STUDY_SLICES)
    batch = max(2, min(largest, STUDY_BATCH, n_train // 8))
    bounded = (
        f"{slices} slices a study per step, spread over its volume (memory bounded by {batch * slices} slices a step); "
        f"scored on up to {scored_slices(slices)} slices a study."
    )
    labelled = fingerprint.slice_labelled
    said = (
        f" {labelled} studies carry slice labels: they are shown in the data report and scored per slice; a 2.5D model "
        "trained on them (Full Manual, Study model: context) tied this one in the studies benchmark (one draw), "
        "so Auto does not choose it yet."
        if labelled
        else ""
    )
    notes.append(
        f"Studies of {fingerprint.median_slices} slices (median): multiple-instance learning, a slice encoder whose features "
        f"a learned attention pools over each study, trained on the study labels, {bounded}{said}"
    )
    return {"slices": slices, "batch_size": batch, "study_model": StudyModel.attention}


def auto_folds(spec: TaskSpec, fingerprint: Fingerprint, notes: list[str]) -> int:
    """The rule for what Auto's final model trains on, from benchmarks/README.md ("Final model"): at equal
    wall time one validated network wins (ensembles cut to its time lose, a refit or a longer fit gains
    nothing), so that is the default; a 5-fold ensemble wins given its ~3x time, so it is what the Ensemble
    preference buys, on datasets small enough for a fold's cases to matter."""
    ensembles = kinds.get(spec.task).ensembles
    if not spec.auto.ensemble:
        if ensembles and fingerprint.cases < ENSEMBLE_BELOW:
            notes.append(
                f"One network. The Ensemble preference would train {ENSEMBLE_FOLDS} (about 4x the time), which on small sets "
                "scored better: 100 digits in 10 classes, test accuracy 0.93 against 0.89 on every one of 5 draws "
                '(benchmarks/README.md, "Weights kept and ensembles").'
            )
        return 1
    if not ensembles:
        notes.append("No ensemble: only classifiers' outputs are averaged into one; one network trains.")
        return 1
    if fingerprint.cases >= ENSEMBLE_BELOW:
        notes.append(f"No ensemble: {fingerprint.cases:,} cases (the ensemble is for fewer than {ENSEMBLE_BELOW}); one network trains.")
        return 1
    return ENSEMBLE_FOLDS


def final_model_note(refit: bool, folds: int) -> list[str]:
    """What the registered model trains on after the validated fit, when it is more than that fit."""
    if folds > 1:
        return [
            f"Final model: a {folds}-fold ensemble. The validated fit holds out one fold (1/{folds} of the cases, in place of "
            f"the validation share) and chooses the epochs; {folds - 1} more networks each leave out another fold for as many "
            "epochs. Figures are out of fold, on every case; the model averages the members."
        ]
    if refit:
        return ["Final model: refit on every case for the validated fit's best number of epochs; figures are the validated fit's."]
    return []


def cache_note(spec: TaskSpec, fingerprint: Fingerprint, image_size: int) -> str:
    """How much disk the training cache takes, said before it is built."""
    channels = 3 if fingerprint.channels == 3 or len(spec.windows) > 1 else 1
    rows = fingerprint.slices or fingerprint.cases
    size = cache_bytes(rows, image_size, channels, masks=bool(spec.task) and kinds.get(spec.task).masks)
    what = f"{rows:,} slices" if fingerprint.slices else f"{fingerprint.cases:,} cases"
    return (
        f"Cache: the {what} decoded once at {image_size} px take {describe_size(size)} on disk, read "
        f"through a memory map; decoding holds about {CHUNK} cases per process in memory."
    )


def _image_size(spec: TaskSpec, fingerprint: Fingerprint, notes: list[str]) -> int:
    if spec.flow is not Flow.general:
        fixed_by = "preset" if spec.flow is Flow.specialized else "base model"
        notes.append(f"Images at {spec.image_size} px, as the {fixed_by} fixes.")
        return spec.image_size
    cap, native = spec.image_size, fingerprint.native_side
    if not native:
        notes.append(f"Images at {cap} px (their native size is unknown).")
        return cap
    size = min(max(math.ceil(native / SIDE_STEP) * SIDE_STEP, MIN_SIDE), cap)
    if native < MIN_SIDE:
        why = f"upscaled to {size} px, the smallest size at which the network's deepest features keep more than one position"
    elif size < cap:
        why = f"trained at {size} px, their own size: upscaling adds no detail and costs time"
    else:
        why = f"trained at {size} px, the recommended size for this network"
    notes.append(f"Images are {native} px; {why}.")
    return size


def _augment_reason(augment: Augmentation, preset: Preset | None) -> str:
    if preset:
        return "Augmentation: the preset's, tuned for its anatomy."
    flip = "with horizontal flips (left and right eyes are both normal)" if augment.hflip else "no flips (left and right differ)"
    return f"Augmentation: small crops, shifts and rotations up to {augment.rotate_deg:g}°, {flip}."


def auto_augment(modality: Modality, channels: int) -> Augmentation:
    """Moderate, modality-aware augmentation for General and Retrain tasks in Auto mode."""
    # Mirroring is only safe where left/right mirror images are both normal anatomy (fundus:
    # left and right eyes). Elsewhere it makes images that never occur (a mirrored chest, a
    # mirrored digit), which cost 4 points of accuracy on digits.
    colour = 0.05 if channels == 3 else 0.0
    return Augmentation(
        hflip=modality is Modality.fundus,
        hflip_p=0.5,
        resized_crop=True,
        crop_min_scale=0.85,
        translate_pct=5,
        rotate_deg=10,
        brightness=0.1,
        contrast=0.1,
        saturation=colour,
        hue=colour,
    )


def resolved_spec(spec: TaskSpec, plan: Plan, arch: str) -> TaskSpec:
    """The task file of what ran: Full Manual with the plan's settings, so running it repeats the run.

    A search's winning settings are in the plan; the search itself is not repeated.
    """
    hyper = plan.hyper.model_copy(update={"valid_pct": spec.hyper.valid_pct})  # a plan recorded flat lacks it
    model = spec.model.model_copy(update={"arch": arch})
    return spec.model_copy(
        update={
            "tuning": Tuning.manual,
            "model": model,
            "image_size": plan.image_size,
            "hyper": hyper,
            "augment": plan.augment,
            "search": Search(),
        }
    )
