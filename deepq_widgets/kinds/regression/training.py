"""Regression: a timm network with one output in the quantity's unit, squared error, MAE / RMSE / R² with
bootstrap intervals, predicted-against-true and residual charts, the largest errors, and Grad-CAM."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ... import intervals
from ...contracts import Chart, ChartSeries, Evaluation, Gallery, Metrics, Prediction
from ...training.backbones import create_model
from ...training.kind_training import GALLERY, Accumulator, KindTraining, Said
from ..single_label.training import grad_cam, normalised_map
from . import VALUE


class Measured(nn.Module):
    """A timm network whose one output is the quantity in its unit: `centre + scale * head`. The centre and
    scale are the training cases' mean and SD (buffers, so they travel with the weights into the registry,
    ONNX and TorchScript): the head starts at the mean and learns on a unit scale."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.register_buffer("centre", torch.zeros(1))
        self.register_buffer("scale", torch.ones(1))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.centre + self.scale * self.net.forward_head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.net.get_classifier()


def squared_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(pred[:, 0].float(), target)


def figures(pred: np.ndarray, truth: np.ndarray) -> dict[str, float | None]:
    """Mean absolute error, root mean squared error (both in the unit) and R² (None when the truth has no spread)."""
    error = pred - truth
    spread = float(((truth - truth.mean()) ** 2).sum())
    r2 = 1.0 - float((error**2).sum()) / spread if spread > 0 else None
    return {"mae": float(np.abs(error).mean()), "rmse": float(np.sqrt((error**2).mean())), "r2": r2}


class RegressionAccumulator(Accumulator):
    def reset(self) -> None:
        self.pred: list[np.ndarray] = []
        self.truth: list[np.ndarray] = []

    def add(self, pred: Any, yb: tuple) -> None:
        self.pred.append(pred[:, 0].float().cpu().numpy())
        self.truth.append(yb[0].float().cpu().numpy())

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate(self.pred).astype(np.float64), np.concatenate(self.truth).astype(np.float64)

    def metrics(self, final: bool = False) -> Metrics:
        pred, truth = self.arrays()
        found = Metrics(headline=figures(pred, truth), cases=len(truth))
        if final:  # cases resampled with replacement; the figures are in a unit (or R², unbounded below)
            found.intervals = intervals.bootstrap(lambda i: figures(pred[i], truth[i]), np.zeros(len(truth)), bounds=None)
            found.warning = intervals.small_sample_warning(len(truth), {})
        return found

    def evaluation(self, task: str, cases: list[str]) -> Evaluation:
        pred, truth = self.arrays()
        name = self.classes[0]
        error = pred - truth
        over = [int(i) for i in np.argsort(-error)[:GALLERY] if error[i] > 0]
        under = [int(i) for i in np.argsort(error)[:GALLERY] if error[i] < 0]
        notes = {i: f"true {truth[i]:.3g}, predicted {pred[i]:.3g}" for i in over + under}
        return Evaluation(
            task=task,
            classes=self.classes,
            metrics=self.metrics(final=True),
            cases=cases,
            charts=[
                Chart(
                    title="Predicted against true",
                    x_label=f"true {name}",
                    y_label=f"predicted {name}",
                    series=[ChartSeries(name="cases", x=truth.tolist(), y=pred.tolist())],
                    style="scatter",
                    reference="identity",
                ),
                Chart(
                    title="Residuals",
                    x_label=f"predicted {name}",
                    y_label="predicted − true",
                    series=[ChartSeries(name="cases", x=pred.tolist(), y=error.tolist())],
                    style="scatter",
                    reference="zero",
                ),
            ],
            gallery={"Largest errors": Gallery(outcomes={"Over-estimated": over, "Under-estimated": under}, notes=notes)},
        )


class RegressionTraining(KindTraining):
    def build_model(self, arch, num_classes, in_chans, image_size, pretrain, workspace) -> nn.Module:
        return Measured(create_model(arch, num_classes=1, in_chans=in_chans, pretrain=pretrain, workspace=workspace))

    def adapt(self, model: nn.Module, data: Any, train: Sequence[int], hyper: Any = None) -> None:
        values = data.column(VALUE)[np.asarray(train, np.int64)]
        model.centre.fill_(float(values.mean()))
        model.scale.fill_(max(float(values.std()), 1e-6))

    def loss(self) -> Any:
        return squared_error

    def targets(self, data, idx, theta, device) -> tuple:
        return (torch.from_numpy(data.column(VALUE)[idx]).to(device),)

    def accumulator(self, classes) -> Accumulator:
        return RegressionAccumulator(classes)

    def predict(self, model, x, classes, heatmap, thresholds) -> Said:
        """The value in its unit and, when asked, the Grad-CAM of what raises it."""
        with torch.no_grad():
            value = float(model(x)[0, 0])
        said = Said(Prediction(image="", summary=f"{classes[0]} {value:.3g}", values={classes[0]: value}))
        if heatmap:
            said.heatmap = normalised_map(grad_cam(model, x, 0))
        return said
