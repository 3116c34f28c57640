"""Detection's figures: mAP@0.5 with COCO's 101-point interpolation (agrees with pycocotools), AP and recall per
class, and their bootstrap intervals over images (each class's boxes matched once)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import intervals
from ..contracts import Metrics


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between xyxy boxes a (N, 4) and b (M, 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter + 1e-9)


@dataclass(frozen=True)
class BoxMatches:
    """Every detection of one class, matched to the true boxes once. Matching happens within an image,
    so a bootstrap of images re-weights these rows and never matches again."""

    image: np.ndarray  # (D,) the image of each detection, in descending score order
    hit: np.ndarray  # (D,) whether it matched a true box
    truth: np.ndarray  # (N,) true boxes of the class in each image


def match_boxes(preds: list[dict], targets: list[dict], label: int, iou: float = 0.5) -> BoxMatches:
    """Greedy matching by score within each image, as COCO does."""
    images, scores, hits, truth = [], [], [], []
    for n, (pred, target) in enumerate(zip(preds, targets, strict=True)):
        gt = target["boxes"][target["labels"] == label]
        truth.append(len(gt))
        sel = pred["labels"] == label
        boxes, conf = pred["boxes"][sel], pred["scores"][sel]
        order = np.argsort(-conf, kind="stable")
        ious = box_iou(boxes[order], gt)
        taken = np.zeros(len(gt), bool)
        for row, i in enumerate(order):
            j = int(np.argmax(np.where(taken, -1, ious[row]))) if len(gt) else -1
            match = j >= 0 and ious[row, j] >= iou and not taken[j]
            if match:
                taken[j] = True
            images.append(n), scores.append(conf[i]), hits.append(match)
    order = np.argsort(-np.asarray(scores, float), kind="stable")
    return BoxMatches(np.asarray(images, np.int64)[order], np.asarray(hits, bool)[order], np.asarray(truth, float))


def average_precision(preds: list[dict], targets: list[dict], label: int, iou: float = 0.5) -> tuple[float | None, np.ndarray, np.ndarray]:
    """COCO-style AP for one class: greedy matching by score, 101-point interpolated precision.

    Returns (AP, recall curve, precision curve); AP is None when the class never occurs.
    """
    matches = match_boxes(preds, targets, label, iou)
    n_truth = matches.truth.sum()
    if n_truth == 0:
        return None, np.zeros(0), np.zeros(0)
    tp = np.cumsum(matches.hit, dtype=float)
    recall, precision = tp / n_truth, tp / np.arange(1, len(tp) + 1)
    return float(_interpolated_ap(recall[None], precision[None])[0]), recall, precision


def weighted_average_precision(matches: BoxMatches, weights: np.ndarray) -> np.ndarray:
    """The AP under each row of image weights (R, N), as if each image were listed as often as its
    weight says; NaN where a row holds no true box of the class."""
    w = weights[:, matches.image]
    tp, seen = np.cumsum(w * matches.hit, axis=1), np.cumsum(w, axis=1)
    n_truth = weights @ matches.truth
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = tp / n_truth[:, None]
        precision = np.where(seen > 0, tp / np.where(seen > 0, seen, 1), 0.0)
        return np.where(n_truth > 0, _interpolated_ap(np.nan_to_num(recall), precision), np.nan)


def _interpolated_ap(recall: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """101-point interpolated AP of each row of (R, D) recall and precision curves."""
    if recall.shape[1] == 0:
        return np.zeros(len(recall))
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    levels = np.linspace(0, 1, 101)
    out = np.empty(len(recall))
    for r, (rec, env) in enumerate(zip(recall, envelope, strict=True)):
        at = np.searchsorted(rec, levels, side="left")
        out[r] = np.where(at < len(rec), env[np.minimum(at, len(rec) - 1)], 0.0).mean()
    return out


def detection(preds: list[dict], targets: list[dict], classes: Sequence[str]) -> Metrics:
    """mAP@0.5 over classes that occur, plus AP per class; labels are 1..K as in the detector."""
    per_class = {}
    for k, name in enumerate(classes, start=1):
        ap, _, _ = average_precision(preds, targets, k)
        if ap is not None:
            per_class[name] = {"ap50": ap}
    aps = [row["ap50"] for row in per_class.values()]
    return Metrics(headline={"map50": float(np.mean(aps)) if aps else 0.0}, per_class=per_class)


def detection_intervals(
    preds: list[dict], targets: list[dict], classes: Sequence[str], found: Metrics
) -> tuple[intervals.Interval | None, dict[str, dict[str, intervals.Interval]]]:
    """Bootstrap intervals over images (1,000 resamples, each class matched once) about the figures `found`
    (`detection`'s): of mAP@0.5, and per class of its AP@0.5 and of its recall over every detection kept."""
    matches = {name: m for k, name in enumerate(classes, start=1) if (m := match_boxes(preds, targets, k)).truth.sum() > 0}
    if not matches:
        return None, {}
    draws: dict[str, dict[str, list[np.ndarray]]] = {name: {"ap50": [], "recall": []} for name in matches}
    maps = []
    widest = max(len(m.image) for m in matches.values())  # `weights[:, m.image]`: one column per detection
    for weights in intervals.resample_weights(np.zeros(len(preds)), columns=widest):
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample without any true box of a class: NaN, dropped
            aps = {name: weighted_average_precision(m, weights) for name, m in matches.items()}
            maps.append(np.nanmean(np.stack(list(aps.values())), axis=0))
            for name, m in matches.items():
                draws[name]["ap50"].append(aps[name])
                draws[name]["recall"].append((weights[:, m.image] * m.hit).sum(1) / (weights @ m.truth))
    n = len(preds)
    points = {name: {"ap50": found.per_class[name]["ap50"], "recall": m.hit.sum() / m.truth.sum()} for name, m in matches.items()}
    per_class = {
        name: {
            fig: interval
            for fig, values in figures.items()
            if (interval := intervals.percentile_interval(np.concatenate(values), float(points[name][fig]), n))
        }
        for name, figures in draws.items()
    }
    return intervals.percentile_interval(np.concatenate(maps), found.headline["map50"], n), per_class
