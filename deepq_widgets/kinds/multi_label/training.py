"""Multi-label classification: one sigmoid per finding, thresholds chosen on validation."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...contracts import Metrics
from ...training import metrics
from ...training.kind_training import Accumulator
from ..single_label.training import ClassificationAccumulator, SingleLabelTraining


class MultiLabelAccumulator(ClassificationAccumulator):
    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.sigmoid()

    def metrics(self, with_intervals: bool = False) -> Metrics:
        return metrics.multi_label(*self.arrays(), self.classes, self.thresholds, with_intervals=with_intervals)

    def decisions(self, scores: np.ndarray, truth: np.ndarray):
        thresholds = self.thresholds or metrics.best_thresholds(scores, truth)
        return truth, scores >= np.asarray(thresholds), thresholds, None


class MultiLabelTraining(SingleLabelTraining):
    def loss(self) -> nn.Module:
        return nn.BCEWithLogitsLoss()

    def targets(self, data, idx, theta, device) -> tuple:
        return (torch.from_numpy(data.labels[idx]).to(device),)

    def accumulator(self, classes) -> Accumulator:
        return MultiLabelAccumulator(classes)
