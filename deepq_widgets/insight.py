"""Training insight: a plain-language diagnosis of the loss curves, and the curves to draw."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence

from . import plots
from .contracts import DataStatistics, EpochEvent
from .data.catalog import balance_grade

NEAR_ZERO = 0.02  # a loss this low (nats) is a fit, whatever it does in relative terms
RISE_FLOOR = 0.02  # an over-fit must raise validation loss by more than this, in absolute terms


def class_balance(data: DataStatistics | None) -> str:
    """The training cases per class, each graded against the largest (SPEC 5: part of the training insight)."""
    if data is None or not data.train_counts:
        return ""
    largest = max(data.train_counts.values())
    words = {"well": "well represented", "mildly": "mildly under-represented", "seriously": "seriously under-represented"}
    parts = [f"{name} {n} ({words[balance_grade(n, largest)]})" for name, n in data.train_counts.items()]
    smallest = min(n for n in data.train_counts.values())
    ratio = f"; smallest to largest 1:{largest / smallest:.1f}" if smallest else "; a class has no training case"
    return "Class balance of the training cases: " + ", ".join(parts) + ratio + "."


def diagnose_fit(epochs: Sequence[EpochEvent]) -> tuple[str, str]:
    """('under-fit' | 'over-fit' | 'good fit' | 'too early', why) from per-epoch train/valid losses.

    Over-fit needs a real, lasting rise of validation loss beyond its epoch-to-epoch noise, not
    a wobble of a loss near zero; under-fit needs a training loss that stayed high.
    """
    if len(epochs) < 3:
        return "too early", "fewer than three epochs so far"
    train = [e.train_loss for e in epochs]
    valid = [e.valid_loss for e in epochs]
    best = min(range(len(valid)), key=valid.__getitem__)
    after = valid[best + 1 :]
    steps = [b - a for a, b in itertools.pairwise(valid)]
    typical = statistics.median(steps)
    noise = statistics.median(abs(d - typical) for d in steps)  # how much a step wobbles about the trend
    margin = max(0.15 * valid[best], RISE_FLOOR, 2 * noise)
    lasting = after[-min(3, len(after)) :] if len(after) >= 2 else []
    if lasting and min(lasting) > valid[best] + margin and train[-1] < train[best]:
        return "over-fit", (
            f"validation loss was lowest at epoch {best + 1} ({valid[best]:.3f}) and rose to {valid[-1]:.3f} "
            "while training loss kept falling; the best epoch's weights are the ones kept"
        )
    if max(valid) < NEAR_ZERO and max(train[-3:]) < NEAR_ZERO:
        return "good fit", (
            f"training and validation losses stayed near zero (validation at most {max(valid):.3f}): the validation cases are "
            "classified with confidence; on few cases, read the metrics' intervals before trusting it"
        )
    if train[-1] > 0.8 * train[0] and train[-1] > NEAR_ZERO:
        return "under-fit", (
            f"training loss fell only from {train[0]:.3f} to {train[-1]:.3f}; try more epochs, a higher learning rate or a larger network"
        )
    return "good fit", f"training and validation losses fell together (validation {valid[0]:.3f} → {valid[best]:.3f})"


def loss_chart(epochs: Sequence[EpochEvent]) -> bytes:
    x = [e.epoch + 1 for e in epochs]
    return plots.curves(x, {"train_loss": [e.train_loss for e in epochs], "valid_loss": [e.valid_loss for e in epochs]}, "Loss", "loss")


def metric_chart(epochs: Sequence[EpochEvent], title: str = "Validation metrics") -> bytes:
    """The headline metrics over the epochs."""
    x = [e.epoch + 1 for e in epochs]
    names = list(epochs[-1].metrics.headline) if epochs else []
    return plots.curves(x, {n: [e.metrics.headline.get(n) for e in epochs] for n in names}, title, "value")
