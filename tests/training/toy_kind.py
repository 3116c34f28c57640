"""A task kind that exists only in the tests: "any finding" (binary) on single-label datasets.

Registered in the test's process (`kinds.register`), it trains, evaluates, registers and predicts through
the same runner, CLI and wizard as the published kinds. Only there: `tasks.submit` refuses it, since a
worker (another process) would never see it; a kind for real use is published through the
`deepq_widgets.kinds` entry point, as the built-in ones are (kinds/regression/ is the worked example).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from deepq_widgets.contracts import Metrics, Prediction
from deepq_widgets.kinds import TaskKind
from deepq_widgets.training.backbones import create_model
from deepq_widgets.training.kind_training import Accumulator, KindTraining, Said
from deepq_widgets.training.metrics import _auroc

NORMAL = "normal"

KIND = TaskKind(
    name="any_finding",
    title="Any finding",
    about="Is there anything but a normal image? One score per image.",
    annotations=("single_label",),
    headline=("auroc", "accuracy"),
    training="tests.training.toy_kind:AnyFindingTraining",
)


class AnyFindingAccumulator(Accumulator):
    def reset(self) -> None:
        self.scores, self.truth = [], []

    def add(self, pred: Any, yb: tuple) -> None:
        self.scores.append(pred[:, 0].float().sigmoid().cpu().numpy())
        self.truth.append(yb[0].cpu().numpy())

    def metrics(self, final: bool = False) -> Metrics:
        scores, truth = np.concatenate(self.scores), np.concatenate(self.truth)
        return Metrics(headline={"auroc": _auroc(truth, scores), "accuracy": float(((scores > 0.5) == truth).mean())})


class AnyFindingTraining(KindTraining):
    def build_model(self, arch, num_classes, in_chans, image_size, pretrain, workspace) -> nn.Module:
        return create_model(arch, num_classes=1, in_chans=in_chans, pretrain=pretrain, workspace=workspace)

    def loss(self) -> Any:
        return lambda logits, target: nn.functional.binary_cross_entropy_with_logits(logits[:, 0], target)

    def targets(self, data, idx, theta, device) -> tuple:
        normal = data.classes.index(NORMAL)
        return (torch.from_numpy(1.0 - data.labels[idx, normal]).to(device),)

    def accumulator(self, classes) -> Accumulator:
        return AnyFindingAccumulator(classes)

    def predict(self, model, x, classes, heatmap, thresholds) -> Said:
        with torch.no_grad():
            score = float(model(x)[0, 0].sigmoid())
        return Said(Prediction(image="", summary=f"finding {score:.2f}", values={"finding": score}))
