"""The final evaluation of the kept weights on the validation cases, saved as evaluation.json.

The task kind's accumulator decides what it holds: metrics, a per-class table, curves,
the confusion matrix, and the gallery of true positives, false positives and false negatives.
"""

from __future__ import annotations

import torch

from ..contracts import Evaluation
from .kind_training import KindTraining
from .loaders import BatchLoader


def evaluate(model: torch.nn.Module, loader: BatchLoader, trainer: KindTraining, classes: list[str]) -> Evaluation:
    model.eval()
    accumulator = trainer.accumulator(classes)
    with torch.no_grad():
        for batch in loader:
            accumulator.add(trainer.forward(model, batch[0], batch[1:]), batch[1:])
    cases = [str(loader.data.cases[i].image) for i in loader.indices]
    return accumulator.evaluation(trainer.kind.name, cases)
