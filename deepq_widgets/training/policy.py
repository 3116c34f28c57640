"""What a run will actually do: the TaskSpec's settings, or in Auto mode the tuned ones.

Auto mode must match a plain full fine-tune (AdamW, lr 1e-3, cosine) on ~100 cases in no
more wall time. fastai's `fine_tune` does not: a timm model splits into body and head only,
so the body trains at about lr/200. Auto therefore fine-tunes every layer with one-cycle,
scales epochs to a step budget, and runs the learning-rate finder only when it costs under
a fifth of training, clamped to a safe band around the policy rate.
"""

from __future__ import annotations

import math

from ..contracts import Plan
from ..presets import Preset
from ..spec import Augmentation, Modality, Schedule, TaskSpec, Tuning

__all__ = ["Plan", "auto_augment", "make_plan"]

STEP_BUDGET = 240  # optimizer steps an Auto run aims for
MIN_EPOCHS, MAX_EPOCHS = 6, 40
LR_FIND_SHARE = 0.2  # the finder's iterations, as a share of the training steps
LR_FIND_MIN_ITERS = 24


def make_plan(spec: TaskSpec, n_train: int, channels: int, preset: Preset | None = None) -> Plan:
    h = spec.hyper
    if spec.tuning is Tuning.manual:
        bs = min(h.batch_size, max(1, n_train))
        return Plan(
            h.epochs,
            bs,
            h.lr,
            h.schedule,
            h.weight_decay,
            h.momentum,
            h.early_stop,
            h.patience,
            spec.augment,
            notes=["Full Manual: settings as given."],
        )

    notes = []
    base_lr = preset.hyper.lr if preset else h.lr
    bs = min(preset.hyper.batch_size if preset else h.batch_size, max(8, n_train // 6))
    steps_per_epoch = max(1, n_train // bs)
    epochs = min(max(math.ceil(STEP_BUDGET / steps_per_epoch), MIN_EPOCHS), MAX_EPOCHS)
    notes.append(f"{n_train} training cases at batch {bs}: {epochs} epochs of {steps_per_epoch} steps.")
    finder = int(LR_FIND_SHARE * epochs * steps_per_epoch)
    if finder < LR_FIND_MIN_ITERS:
        finder = 0
        notes.append(f"Learning rate {base_lr:g}: too few steps for a finder that costs under {LR_FIND_SHARE:.0%} of training.")
    augment = preset.augment if preset else auto_augment(spec, channels)
    patience = max(4, epochs // 4)
    return Plan(epochs, bs, base_lr, Schedule.one_cycle, 0.01, 0.9, True, patience, augment, finder, notes)


def auto_augment(spec: TaskSpec, channels: int) -> Augmentation:
    """Moderate, modality-aware augmentation for General and Retrain tasks in Auto mode."""
    # Mirroring is only safe where left/right mirror images are both normal anatomy (fundus:
    # left and right eyes). Elsewhere it makes images that never occur (a mirrored chest, a
    # mirrored digit), which cost 4 points of accuracy on digits.
    colour = 0.05 if channels == 3 else 0.0
    return Augmentation(
        hflip=spec.auto.modality is Modality.fundus,
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
