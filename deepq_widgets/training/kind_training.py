"""The training part of a task kind: what a kind must say for a run, an evaluation and a prediction.

Each kind's `training.py` subclasses `KindTraining`; the runner, the loaders, the evaluation,
the registry and the exporter call these methods and never ask which kind they hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..contracts import Evaluation, Metrics, Prediction
from ..data.cache import CachedData
from ..kinds.base import EXPORT_FORMATS
from ..spec import OperatingPoint
from ..workspace import WorkspacePaths

GALLERY = 8  # cases per class and outcome in the evaluation gallery


class Accumulator:
    """Gathers the network's outputs over a pass of validation batches; then metrics or the evaluation."""

    def __init__(self, classes: Sequence[str]):
        self.classes = list(classes)
        self.thresholds: list[float] | None = None  # a model's operating point; None: chosen on these cases by the rule
        self.operating_point = OperatingPoint()  # the rule that chooses it (the task file's)
        self.calibrate = False  # fit a temperature on these cases: the task's validation (or out-of-fold) cases alone
        self.reset()

    def reset(self) -> None:
        raise NotImplementedError

    def add(self, pred: Any, yb: tuple) -> None:
        raise NotImplementedError

    def metrics(self, final: bool = False) -> Metrics:
        """The headline figures of each epoch; `final`: those of the final evaluation, at the operating
        point and with their 95% intervals (slower)."""
        raise NotImplementedError

    def evaluation(self, task: str, cases: list[str]) -> Evaluation:
        """The full evaluation: metrics plus the per-class table, curves and gallery the kind shows."""
        return Evaluation(task=task, classes=self.classes, metrics=self.metrics(final=True), cases=cases)


@dataclass
class Said:
    """What a model says of one image: the typed prediction, and the arrays written to files beside it
    (a Grad-CAM heatmap in [0, 1], a class-index mask)."""

    prediction: Prediction
    heatmap: np.ndarray | None = None
    mask: np.ndarray | None = None


class KindTraining:
    """Defaults fit classification; other kinds override what differs."""

    n_inp = 1  # how many leading batch items are inputs (fastai's DataLoaders.n_inp)
    channels_last = True  # train in channels_last memory format on the CPU
    export_formats: tuple[str, ...] = EXPORT_FORMATS
    ensemble_activation = ""  # "softmax" / "sigmoid": how a k-fold ensemble averages its members (ensemble.py); "": it cannot

    def __init__(self, kind: Any):
        self.kind = kind

    # -- the network ------------------------------------------------------------------------------
    def build_model(
        self, arch: str, num_classes: int, in_chans: int, image_size: int, pretrain: str, workspace: WorkspacePaths | None
    ) -> nn.Module:
        raise NotImplementedError

    def body_parameters(self, model: nn.Module) -> Iterable[nn.Parameter]:
        """The pretrained part of the network; the rest is new (the head)."""
        head = {id(p) for p in model.get_classifier().parameters()}
        return (p for p in model.parameters() if id(p) not in head)

    def param_groups(self, model: nn.Module) -> list[list[nn.Parameter]]:
        """[pretrained body, new head]: fastai's splitter, for freeze() and per-group learning rates."""
        body = {id(p) for p in self.body_parameters(model)}
        return [[p for p in model.parameters() if id(p) in body], [p for p in model.parameters() if id(p) not in body]]

    def loss(self) -> Any:
        raise NotImplementedError

    # -- batches ----------------------------------------------------------------------------------
    def targets(self, data: CachedData, idx: np.ndarray, theta: torch.Tensor | None, device: torch.device) -> tuple:
        """The targets of one batch (after the same warp `theta` as its images, when augmented)."""
        raise NotImplementedError

    def callbacks(self) -> list:
        """Extra fastai callbacks the kind's network needs during a fit."""
        return []

    def forward(self, model: nn.Module, x: torch.Tensor, yb: tuple) -> Any:
        """The network's output on a validation batch, outside fastai."""
        return model(x)

    def accumulator(self, classes: Sequence[str]) -> Accumulator:
        raise NotImplementedError

    def adapt(self, model: nn.Module, data: CachedData, train: Sequence[int], hyper: Any = None) -> None:
        """Fit a freshly built network to the cases it will train on and the plan's `hyper` (Hyperparameters),
        before training: a regression head's centre and scale, a study network's pooling; nothing for most kinds."""

    # -- after training -----------------------------------------------------------------------------
    def predict(self, model: nn.Module, x: torch.Tensor, classes: list[str], heatmap: bool, thresholds: list[float] | None) -> Said:
        """What the model says about one preprocessed image (1, C, S, S), called at the model's operating
        point `thresholds` where the kind has one; `image` is left for the caller to name."""
        raise NotImplementedError


def top_cases(indices: np.ndarray, scores: np.ndarray, descending: bool) -> list[int]:
    """The gallery's cases: the most confident first (or the least, for misses)."""
    order = np.argsort(-scores[indices] if descending else scores[indices])
    return [int(i) for i in indices[order][:GALLERY]]
