"""Training insight: a plain-language diagnosis of the loss curves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def diagnose_fit(epochs: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """('under-fit' | 'over-fit' | 'good fit' | 'too early', why) from per-epoch train/valid losses."""
    if len(epochs) < 3:
        return "too early", "fewer than three epochs so far"
    train = [e["train_loss"] for e in epochs]
    valid = [e["valid_loss"] for e in epochs]
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
