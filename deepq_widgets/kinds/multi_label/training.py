"""Multi-label classification: one sigmoid per finding, thresholds chosen on validation."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...contracts import Metrics
from ...training import metrics
from ...training.kind_training import Accumulator
from ...training.operating_point import chosen_threshold
from ..single_label.training import ClassificationAccumulator, SingleLabelTraining


class MultiLabelAccumulator(ClassificationAccumulator):
    activation = "sigmoid"

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.sigmoid()

    def metrics(self, final: bool = False) -> Metrics:
        scores, truth = self.arrays()
        if final or self.thresholds:
            thresholds = self.operating_thresholds(scores, truth)
        else:  # an epoch's figures: one choice per label, not 200 resamples of it
            thresholds = metrics.operating_thresholds(scores, truth, self.operating_point)
        return metrics.multi_label(scores, truth, self.classes, thresholds, with_intervals=final)

    def operating_thresholds(self, scores: np.ndarray, truth: np.ndarray) -> list[float]:
        """Per finding, where it is called: the model's thresholds, or the rule's on these cases (operating_point.py)."""
        if self.thresholds:
            return self.thresholds
        self.chosen = {k: chosen_threshold(truth[:, k], scores[:, k], self.operating_point) for k in range(len(self.classes))}
        return [c.value for c in self.chosen.values()]

    def decisions(self, scores: np.ndarray, truth: np.ndarray):
        thresholds = self.operating_thresholds(scores, truth)
        return truth, scores >= np.asarray(thresholds), thresholds, None


class MultiLabelTraining(SingleLabelTraining):
    ensemble_activation = "sigmoid"

    def loss(self) -> nn.Module:
        return nn.BCEWithLogitsLoss()

    def targets(self, data, idx, theta, device) -> tuple:
        return (torch.from_numpy(data.labels[idx]).to(device),)

    def accumulator(self, classes) -> Accumulator:
        return MultiLabelAccumulator(classes)

    def decide(self, scores: dict[str, float], thresholds: list[float] | None) -> str:
        """Every finding whose score reaches its threshold, or 'no finding'."""
        cut = thresholds or [0.5] * len(scores)
        return ", ".join(c for (c, p), t in zip(scores.items(), cut, strict=True) if p >= t) or "no finding"
