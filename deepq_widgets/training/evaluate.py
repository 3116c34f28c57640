"""The final evaluation of the kept weights on the validation cases, saved as evaluation.json.

The task kind's accumulator decides what it holds: metrics, a per-class table, curves,
the confusion matrix, and the gallery of true positives, false positives and false negatives.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable

import torch

from ..contracts import Evaluation
from ..spec import OperatingPoint
from .kind_training import KindTraining
from .loaders import BatchLoader

CHECK_CASES = 8  # folding is exact or not whatever the batch: a few cases show it


def inference_network(model: torch.nn.Module, trainer: KindTraining, loader: BatchLoader) -> torch.nn.Module:
    """The network as fast as it infers here: channels_last on the CPU, and every batch norm folded
    into the convolution before it (1.7x on the CPU for an EfficientNet), kept only when a batch
    gives the same outputs."""
    model.eval()
    if loader.device.type == "cpu" and trainer.channels_last:
        model, loader.channels_last = model.to(memory_format=torch.channels_last), True
    example = loader.batch(loader.indices[:CHECK_CASES])[0]
    folded = fold_batch_norms(copy.deepcopy(model))
    with torch.no_grad():
        before, after = model(example), folded(example)
    same = isinstance(before, torch.Tensor) and torch.allclose(before, after, rtol=1e-3, atol=1e-3)
    return folded if same else model


def fold_batch_norms(model: torch.nn.Module) -> torch.nn.Module:
    """Fold each BatchNorm2d into the Conv2d declared just before it (eval mode), in place."""
    for parent in model.modules():
        children = list(parent.named_children())
        for (_, conv), (name, norm) in itertools.pairwise(children):
            if not (isinstance(conv, torch.nn.Conv2d) and isinstance(norm, torch.nn.BatchNorm2d) and norm.track_running_stats):
                continue
            scale = (norm.weight if norm.affine else 1.0) / torch.sqrt(norm.running_var + norm.eps)
            shift = norm.bias if norm.affine else 0.0
            bias = conv.bias.data if conv.bias is not None else torch.zeros_like(norm.running_mean)
            conv.weight.data.mul_(scale.reshape(-1, 1, 1, 1))
            conv.bias = torch.nn.Parameter((bias - norm.running_mean) * scale + shift)
            after = [m for m in (getattr(norm, "drop", None), getattr(norm, "act", None)) if m is not None]  # timm's BatchNormAct2d
            setattr(parent, name, torch.nn.Sequential(*after) if after else torch.nn.Identity())
    return model


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
