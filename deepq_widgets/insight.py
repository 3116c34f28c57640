"""Training insight: a plain-language diagnosis of the loss curves, and the curves to draw."""

from __future__ import annotations

from collections.abc import Sequence

from . import plots
from .contracts import EpochEvent


def diagnose_fit(epochs: Sequence[EpochEvent]) -> tuple[str, str]:
    """('under-fit' | 'over-fit' | 'good fit' | 'too early', why) from per-epoch train/valid losses."""
    if len(epochs) < 3:
        return "too early", "fewer than three epochs so far"
    train = [e.train_loss for e in epochs]
    valid = [e.valid_loss for e in epochs]
    best = min(range(len(valid)), key=valid.__getitem__)
    if valid[-1] > valid[best] * 1.15 and train[-1] < train[best] * 0.9 and best < len(valid) - 2:
        return "over-fit", (
            f"validation loss was lowest at epoch {best + 1} ({valid[best]:.3f}) and rose to {valid[-1]:.3f} "
            "while training loss kept falling; the best epoch's weights are the ones kept"
        )
    if train[-1] > 0.8 * train[0]:
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
