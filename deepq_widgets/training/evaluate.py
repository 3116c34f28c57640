"""The final evaluation of the kept weights on the validation cases, saved as evaluation.json.

The task kind's accumulator decides what it holds: metrics, a per-class table, curves,
the confusion matrix, and the gallery of true positives, false positives and false negatives.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..contracts import Evaluation
from ..spec import OperatingPoint
from .kind_training import KindTraining
from .loaders import BatchLoader


def evaluate(
    model: torch.nn.Module,
    loader: BatchLoader,
    trainer: KindTraining,
    classes: list[str],
    thresholds: list[float] | None = None,
    progress: Callable[[int, int], None] | None = None,
    operating_point: OperatingPoint | None = None,
) -> Evaluation:
    """The evaluation at a model's operating point `thresholds` (chosen on validation), or at the one the
    `operating_point` rule chooses on these cases."""
    model.eval()
    accumulator = trainer.accumulator(classes)
    accumulator.thresholds = thresholds
    accumulator.operating_point = operating_point or OperatingPoint()
    with torch.no_grad():
        for done, batch in enumerate(loader, start=1):
            accumulator.add(trainer.forward(model, batch[0], batch[1:]), batch[1:])
            if progress is not None:
                progress(done, len(loader))
    cases = [str(loader.data.cases[i].image) for i in loader.indices]
    return accumulator.evaluation(trainer.kind.name, cases)
