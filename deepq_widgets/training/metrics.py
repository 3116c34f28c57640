"""Classification's figures, computed with numpy: accuracy, macro AUROC, sensitivity and specificity (binary);
per-label AUROC and F1 at per-label thresholds chosen on validation (multi-label); the per-class table with its
intervals; the operating point. Detection's are in box_metrics.py, segmentation's in pixel_metrics.py."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import intervals
from ..contracts import Metrics
from ..spec import OperatingPoint, OperatingRule

NEGATIVE_NAMES = {"normal", "negative", "no_finding", "healthy", "none", "benign"}


def positive_index(classes: Sequence[str]) -> int:
    """The finding in a two-class task: the class that is not 'normal' (else the second)."""
    named = [i for i, c in enumerate(classes) if c.lower() not in NEGATIVE_NAMES]
    return named[0] if len(named) == 1 else 1


def _auroc(truth: np.ndarray, score: np.ndarray) -> float | None:
    return intervals.auroc(truth, score)  # None: undefined with one class present


def confusion_counts(truth: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Sensitivity, specificity, precision, recall, accuracy, F1 and DOR from binary vectors."""
    truth, pred = np.asarray(truth) == 1, np.asarray(pred) == 1
    cells = {"tp": pred & truth, "tn": ~pred & ~truth, "fp": pred & ~truth, "fn": ~pred & truth}
    return {name: float(value) for name, value in confusion_figures(**{k: float(v.sum()) for k, v in cells.items()}).items()}


def confusion_figures(tp: Any, tn: Any, fp: Any, fn: Any) -> dict[str, np.ndarray]:
    """The figures of 2x2 tables, elementwise over counts (numbers, or arrays of bootstrap resamples x classes);
    a figure with an empty denominator is 0, the DOR Haldane-corrected so that it stays finite with empty cells."""

    def ratio(a: Any, b: Any) -> np.ndarray:
        a, b = np.asarray(a, float), np.asarray(b, float)
        return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)

    sens, spec, prec = ratio(tp, tp + fn), ratio(tn, tn + fp), ratio(tp, tp + fp)
    return {
        "sensitivity": sens,
        "specificity": spec,
        "precision": prec,
        "recall": sens,
        "accuracy": ratio(tp + tn, tp + tn + fp + fn),
        "f1": ratio(2 * prec * sens, prec + sens),
        "dor": (np.asarray(tp) + 0.5) * (np.asarray(tn) + 0.5) / ((np.asarray(fp) + 0.5) * (np.asarray(fn) + 0.5)),
    }


def single_label(
    probs: np.ndarray, truth: np.ndarray, classes: Sequence[str], threshold: float | None = None, with_intervals: bool = False
) -> Metrics:
    """probs (N, K) softmax, truth (N,) class indices. Two classes: the finding is called at `threshold`
    on its probability (the operating point; argmax without one). `with_intervals` adds 95% intervals."""
    decided = single_label_decisions(probs, classes, threshold)
    correct = decided == truth
    out = {"accuracy": float(correct.mean()), "auroc": _macro_auroc(probs, truth)}
    ci = {"accuracy": intervals.wilson(correct.sum(), len(truth))}
    if probs.shape[1] == 2:
        pos = positive_index(classes)
        real, said = (truth == pos).astype(int), (decided == pos).astype(int)
        counts = confusion_counts(real, said)
        out["sensitivity"], out["specificity"] = counts["sensitivity"], counts["specificity"]
        if with_intervals:
            ci["auroc"] = intervals.delong(real, probs[:, pos])
            ci["sensitivity"] = intervals.wilson((said & real).sum(), real.sum())
            ci["specificity"] = intervals.wilson(((1 - said) & (1 - real)).sum(), (1 - real).sum())
    elif with_intervals and out["auroc"] is not None:
        onehot = np.eye(probs.shape[1])[truth]
        draws = np.concatenate([_macro_weighted_auroc(onehot, probs, w) for w in intervals.resample_weights(truth)])
        ci["auroc"] = intervals.percentile_interval(draws, out["auroc"], int(np.unique(truth, return_counts=True)[1].min()))
    metrics = Metrics(headline=out)
    if not with_intervals:
        return metrics
    class_counts = {c: int((truth == k).sum()) for k, c in enumerate(classes)}
    return attach_intervals(metrics, ci, len(truth), class_counts)


def single_label_decisions(probs: np.ndarray, classes: Sequence[str], threshold: float | None = None) -> np.ndarray:
    """The class called per case: the finding at or above `threshold` (two classes), else the most probable."""
    if threshold is None or probs.shape[1] != 2:
        return probs.argmax(1)
    pos = positive_index(classes)
    return np.where(probs[:, pos] >= threshold, pos, 1 - pos)


def _macro_weighted_auroc(truth: np.ndarray, probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per row of case weights, the mean AUROC over the columns (classes, labels) that have both outcomes."""
    present = [k for k in range(probs.shape[1]) if 0 < truth[:, k].sum() < len(truth)]
    return np.nanmean([intervals.weighted_auroc(truth[:, k], probs[:, k], weights) for k in present], axis=0)


def _macro_weighted_f1(truth: np.ndarray, said: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per row of case weights, the mean F1 over the labels (0 where a label has no positive and no call)."""
    tp, fp, fn = weights @ (said & truth), weights @ (said & ~truth), weights @ (~said & truth)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0).mean(1)


def _macro_auroc(probs: np.ndarray, truth: np.ndarray) -> float | None:
    aucs = [a for k in range(probs.shape[1]) if (a := _auroc((truth == k).astype(int), probs[:, k])) is not None]
    return float(np.mean(aucs)) if aucs else None


def attach_intervals(metrics: Metrics, ci: dict, cases: int, class_counts: dict[str, int]) -> Metrics:
    """The figures with their intervals, how many cases they come from, the small-sample warning, and whether they
    are better than chance."""
    known = {k: v for k, v in ci.items() if v is not None and metrics.headline.get(k) is not None}
    warning = intervals.small_sample_warning(cases, class_counts)
    chance = intervals.chance_warning(known, class_counts)
    return metrics.model_copy(update={"intervals": known, "cases": cases, "warning": warning, "chance": chance})


def operating_threshold(truth: np.ndarray, score: np.ndarray, point: OperatingPoint | None = None) -> float:
    """The threshold on `score` that the operating point's rule picks on these cases (0.5 without both classes).

    youden: the largest sensitivity + specificity; sensitivity >= x: the largest threshold that
    keeps it (the best specificity); specificity >= x: the smallest that reaches it.
    """
    point = point or OperatingPoint()
    truth = np.asarray(truth).astype(bool)
    if truth.all() or not truth.any():
        return 0.5
    candidates = np.unique(score)
    pos, neg = np.sort(score[truth]), np.sort(score[~truth])
    sens = 1 - np.searchsorted(pos, candidates, side="left") / len(pos)  # share of positives >= t
    spec = np.searchsorted(neg, candidates, side="left") / len(neg)  # share of negatives < t
    if point.rule is OperatingRule.sensitivity:
        ok = np.flatnonzero(sens >= point.target)
        return float(candidates[ok[-1]]) if len(ok) else float(candidates[0])
    if point.rule is OperatingRule.specificity:
        ok = np.flatnonzero(spec >= point.target)
        return float(candidates[ok[0]]) if len(ok) else float(candidates[-1])
    return float(candidates[int(np.argmax(sens + spec))])


def operating_thresholds(probs: np.ndarray, truth: np.ndarray, point: OperatingPoint | None = None) -> list[float]:
    """Per label (column), the operating point's threshold on these cases."""
    return [operating_threshold(truth[:, k], probs[:, k], point) for k in range(probs.shape[1])]


def multi_label(
    probs: np.ndarray,
    truth: np.ndarray,
    classes: Sequence[str],
    thresholds: Sequence[float] | None = None,
    with_intervals: bool = False,
) -> Metrics:
    """probs (N, K) sigmoid, truth (N, K) multi-hot; `with_intervals` adds each figure's 95% interval."""
    thresholds = list(thresholds) if thresholds is not None else operating_thresholds(probs, truth)
    real, said = truth.astype(bool), probs >= np.asarray(thresholds)
    per_class = {}
    for k, name in enumerate(classes):
        f1 = confusion_counts(truth[:, k], said[:, k].astype(int))["f1"]
        per_class[name] = {"auroc": _auroc(truth[:, k], probs[:, k]), "f1": f1}
    aucs = [row["auroc"] for row in per_class.values() if row["auroc"] is not None]
    headline = {"auroc": float(np.mean(aucs)) if aucs else None, "f1": float(np.mean([row["f1"] for row in per_class.values()]))}
    metrics = Metrics(headline=headline, per_class=per_class)
    if not with_intervals:
        return metrics
    patterns = np.array(["".join(map(str, row)) for row in truth.astype(int)])  # resample within each combination of findings
    smallest = int(np.unique(patterns, return_counts=True)[1].min())
    aurocs, f1s = [], []
    for w in intervals.resample_weights(patterns):
        aurocs.append(_macro_weighted_auroc(truth, probs, w))
        f1s.append(_macro_weighted_f1(real, said, w))
    ci = {"f1": intervals.percentile_interval(np.concatenate(f1s), headline["f1"], smallest)}
    if headline["auroc"] is not None:
        ci["auroc"] = intervals.percentile_interval(np.concatenate(aurocs), headline["auroc"], smallest)
    class_counts = {c: int(truth[:, k].sum()) for k, c in enumerate(classes)}
    return attach_intervals(metrics, ci, len(truth), class_counts)


def per_class_table(
    scores: np.ndarray, decided: np.ndarray, truth: np.ndarray, classes: Sequence[str], thresholds: Sequence[float] | None = None
) -> list[dict]:
    """One row per class plus an average row: the threshold it is called at, sensitivity ... DOR from the
    0/1 decisions, AUC from the scores, and the 95% intervals of the proportions (Wilson) and of the AUC (DeLong)."""
    rows = []
    for k, name in enumerate(classes):
        real, said = truth[:, k].astype(int), decided[:, k].astype(int)
        row = {"class": name, "threshold": thresholds[k] if thresholds else None, **confusion_counts(real, said)}
        row["auc"] = _auroc(real, scores[:, k])
        row["brier"] = float(np.mean((scores[:, k] - real) ** 2))
        tp, tn = int((said & real).sum()), int(((1 - said) & (1 - real)).sum())
        fp, fn = int(said.sum()) - tp, int(real.sum()) - tp
        ci = {
            "sensitivity": intervals.wilson(tp, int(real.sum())),
            "specificity": intervals.wilson(tn, int((1 - real).sum())),
            "precision": intervals.wilson(tp, int(said.sum())),
            "recall": intervals.wilson(tp, int(real.sum())),
            "accuracy": intervals.wilson(tp + tn, len(real)),
            "f1": intervals.f1_interval(tp, fp, fn),
            "dor": intervals.odds_ratio_interval(tp, fp, fn, tn),
            "auc": intervals.delong(real, scores[:, k]),
            "brier": intervals.mean_interval((scores[:, k] - real) ** 2),
        }
        row["intervals"] = {figure: interval for figure, interval in ci.items() if interval is not None}
        rows.append(row)
    keys = [k for k in rows[0] if k not in ("class", "intervals", "threshold")] if rows else []
    avg = {"class": "average"} | {k: float(np.mean([r[k] for r in rows if r[k] is not None] or [np.nan])) for k in keys}
    avg["intervals"] = average_intervals(scores, decided, truth, avg) if rows else {}
    for name, (low, high) in list(avg["intervals"].items()):
        if low == high:  # no spread over the resamples (every call right: the counts never move); never a zero-width interval
            bounds = [r["intervals"][name] for r in rows if name in r["intervals"]]
            avg["intervals"][name] = (float(np.mean([b[0] for b in bounds])), float(np.mean([b[1] for b in bounds])))
    return [*rows, avg]


def average_intervals(scores: np.ndarray, decided: np.ndarray, truth: np.ndarray, average: dict) -> dict[str, intervals.Interval]:
    """95% intervals of the average row: the class means of each figure over stratified bootstrap resamples of
    the cases (the classes share the cases, so their intervals cannot simply be combined)."""
    real, said = truth.astype(bool), decided.astype(bool)
    strata = np.unique(real, axis=0, return_inverse=True)[1].ravel()  # each combination of labels a stratum
    cells = {"tp": said & real, "tn": ~said & ~real, "fp": said & ~real, "fn": ~said & real}
    squared = (scores - truth) ** 2
    draws: dict[str, list[np.ndarray]] = {}
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample with one class of a label has no AUC: NaN, dropped
        for weights in intervals.resample_weights(strata):
            counts = {name: weights @ cell.astype(float) for name, cell in cells.items()}  # (resamples, classes)
            figures = confusion_figures(**counts)
            figures["auc"] = np.stack([intervals.weighted_auroc(real[:, k], scores[:, k], weights) for k in range(real.shape[1])], 1)
            figures["brier"] = (weights @ squared) / weights.sum(1, keepdims=True)
            for name, values in figures.items():
                draws.setdefault(name, []).append(np.nanmean(values, axis=1))
    smallest = int(np.bincount(strata).min())
    bounds = {"dor": (0.0, np.inf)}  # the others are proportions (and the AUC)
    found = {
        name: intervals.percentile_interval(np.concatenate(values), average[name], smallest, bounds=bounds.get(name, (0.0, 1.0)))
        for name, values in draws.items()
        if name in average and np.isfinite(average[name])
    }
    return {name: interval for name, interval in found.items() if interval is not None}
