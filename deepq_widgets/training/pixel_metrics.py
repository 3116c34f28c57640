"""Segmentation's figures: Dice and IoU per foreground class from pixel counts over the whole set, and their
bootstrap intervals over images (the counts are kept per image so that the resamples are of images, not pixels)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import intervals
from ..contracts import Metrics


def pixel_counts(pred: np.ndarray, truth: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, 3) true positive, false positive and false negative pixels per class."""
    out = np.zeros((n_classes, 3), np.int64)
    for k in range(n_classes):
        p, t = pred == k, truth == k
        out[k] = [(p & t).sum(), (p & ~t).sum(), (~p & t).sum()]
    return out


def segmentation_intervals(counts: np.ndarray, classes: Sequence[str]) -> tuple[dict, dict[str, dict[str, intervals.Interval]]]:
    """Bootstrap intervals over images of the mean Dice and IoU and of each class's, from per-image pixel counts."""

    def figures(i: np.ndarray) -> dict[str, float]:
        found = segmentation(counts[i].sum(0), classes)
        return found.headline | {f"{c}\t{fig}": v for c, row in found.per_class.items() for fig, v in row.items()}

    ci = intervals.bootstrap(figures, np.zeros(len(counts)))
    per_class: dict[str, dict[str, intervals.Interval]] = {}
    for key, interval in ci.items():
        if "\t" in key:
            name, fig = key.split("\t")
            per_class.setdefault(name, {})[fig] = interval
    return {k: v for k, v in ci.items() if "\t" not in k}, per_class


def segmentation(counts: np.ndarray, classes: Sequence[str]) -> Metrics:
    """Dice and IoU per foreground class (index 0 is background) and their means."""
    per_class = {}
    for k, name in enumerate(classes, start=1):
        tp, fp, fn = counts[k]
        dice = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
        iou = tp / (tp + fp + fn) if tp + fp + fn else 1.0
        per_class[name] = {"dice": float(dice), "iou": float(iou)}
    means = {m: float(np.mean([row[m] for row in per_class.values()])) for m in ("dice", "iou")}
    return Metrics(headline=means, per_class=per_class)
