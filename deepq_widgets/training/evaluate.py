"""The final evaluation of the best weights on the validation cases, saved as evaluation.json.

It holds what the task detail shows: the metrics, a per-class table (sensitivity,
specificity, precision, recall, accuracy, F1, DOR, AUC and an average row), ROC and PR
curves, the confusion matrix, FROC for detection, Dice/IoU per class for segmentation,
and the case indices of true positives, false positives and false negatives per class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .callbacks import Predictions
from .loaders import BatchLoader
from .metrics import average_precision, best_thresholds, box_iou, per_class_table

GALLERY = 8  # cases per class and outcome


def evaluate(model: torch.nn.Module, loader: BatchLoader, task: str, classes: list[str]) -> dict[str, Any]:
    model.eval()
    preds = Predictions(task, classes)
    with torch.no_grad():
        for batch in loader:
            x, yb = batch[0], batch[1:]
            if task == "detection":
                model.targets = yb[1]
            preds.add(model(x), yb)
    if task == "detection":
        model.targets = None
    cases = [str(loader.data.cases[i].image) for i in loader.indices]
    out: dict[str, Any] = {"task": task, "classes": classes, "metrics": preds.metrics(), "cases": cases}
    if task in ("single_label", "multi_label"):
        out |= _classification(preds, task, classes)
    elif task == "detection":
        out |= _detection(preds, classes)
    else:
        out["per_class"] = [{"class": c, "dice": out["metrics"][f"dice_{c}"], "iou": out["metrics"][f"iou_{c}"]} for c in classes]
    return out


def _classification(preds: Predictions, task: str, classes: list[str]) -> dict[str, Any]:
    from sklearn.metrics import precision_recall_curve, roc_curve

    scores = np.concatenate(preds.scores)
    truth = np.concatenate(preds.truth)
    onehot = np.eye(len(classes))[truth] if task == "single_label" else truth
    if task == "single_label":
        thresholds = [0.5] * len(classes)
        decided = np.eye(len(classes))[scores.argmax(1)]
        confusion = np.zeros((len(classes), len(classes)), int)
        np.add.at(confusion, (truth, scores.argmax(1)), 1)
    else:
        thresholds = best_thresholds(scores, truth)
        decided = scores >= np.asarray(thresholds)
        confusion = None
    table = per_class_table(scores, decided, onehot, classes)
    curves = {}
    for k, name in enumerate(classes):
        if onehot[:, k].min() == onehot[:, k].max():
            continue
        fpr, tpr, _ = roc_curve(onehot[:, k], scores[:, k])
        prec, rec, _ = precision_recall_curve(onehot[:, k], scores[:, k])
        curves[name] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "precision": prec.tolist(), "recall": rec.tolist()}
    gallery = {}
    for k, name in enumerate(classes):
        said = decided[:, k] == 1
        real = onehot[:, k] == 1
        gallery[name] = {
            "tp": _top(np.where(said & real)[0], scores[:, k], descending=True),
            "fp": _top(np.where(said & ~real)[0], scores[:, k], descending=True),
            "fn": _top(np.where(~said & real)[0], scores[:, k], descending=False),
        }
    return {
        "thresholds": thresholds,
        "per_class": table,
        "curves": curves,
        "confusion": confusion.tolist() if confusion is not None else None,
        "gallery": gallery,
    }


def _detection(preds: Predictions, classes: list[str]) -> dict[str, Any]:
    curves, table, gallery = {}, [], {}
    n_images = len(preds.dets)
    for k, name in enumerate(classes, start=1):
        ap, recall, precision = average_precision(preds.dets, preds.boxes, k)
        if ap is None:
            continue
        fp_per_image = (np.arange(1, len(recall) + 1) - recall * sum((t["labels"] == k).sum() for t in preds.boxes)) / max(n_images, 1)
        curves[name] = {"recall": recall.tolist(), "precision": precision.tolist(), "fp_per_image": fp_per_image.tolist()}
        table.append({"class": name, "ap50": ap, "recall": float(recall[-1]) if len(recall) else 0.0})
        gallery[name] = _detection_gallery(preds, k)
    return {"per_class": table, "curves": curves, "gallery": gallery}


def _detection_gallery(preds: Predictions, label: int, score: float = 0.3) -> dict[str, list[int]]:
    tp, fp, fn = [], [], []
    for i, (det, truth) in enumerate(zip(preds.dets, preds.boxes, strict=True)):
        boxes = det["boxes"][(det["labels"] == label) & (det["scores"] >= score)]
        gt = truth["boxes"][truth["labels"] == label]
        ious = box_iou(boxes, gt)
        hit = ious.max(1) >= 0.5 if len(gt) else np.zeros(len(boxes), bool)
        found = ious.max(0) >= 0.5 if len(boxes) else np.zeros(len(gt), bool)
        if len(boxes):
            (tp if hit.any() else fp).append(i)
        if len(gt) and not found.all():
            fn.append(i)
    return {"tp": tp[:GALLERY], "fp": fp[:GALLERY], "fn": fn[:GALLERY]}


def _top(indices: np.ndarray, scores: np.ndarray, descending: bool) -> list[int]:
    order = np.argsort(-scores[indices] if descending else scores[indices])
    return [int(i) for i in indices[order][:GALLERY]]
