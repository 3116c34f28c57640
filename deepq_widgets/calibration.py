"""Do the probabilities mean what they say? The reliability of a classifier's probabilities (expected calibration
error with its 95% interval, the reliability diagram's bins, the Brier score), and temperature scaling: one number
T that divides the logits, fitted on validation, kept only where it makes the probabilities more reliable on cases
it was not fitted on.

What is judged: for one class of k (softmax), the top class's probability against whether it is the true class
(Guo et al., 2017); for findings (sigmoid), every finding's probability against whether the finding is present.
Numpy and scipy only: the dashboard and `deepq evaluate` read it without torch.
"""

from __future__ import annotations

import numpy as np

from . import intervals
from .contracts import Calibration, ReliabilityBin

BINS = 10  # equal-width bins of the probability, as the reliability diagram draws them
TEMPERATURES = (0.25, 4.0)  # the range T is fitted in: beyond it a handful of cases decides, not the network
FIT_CASES = 20  # fewer validation cases than this: no temperature is fitted (each half would hold ten)
EPS = 1e-7


def judged(probs: np.ndarray, truth: np.ndarray, activation: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probability, outcome 0/1, the case each pair belongs to): the pairs whose reliability is judged."""
    probs = np.asarray(probs, float)
    if activation == "softmax":
        called = probs.argmax(1)
        return probs.max(1), (called == truth).astype(float), np.arange(len(probs))
    return probs.ravel(), np.asarray(truth, float).ravel(), np.repeat(np.arange(len(probs)), probs.shape[1])


def expected_calibration_error(probability: np.ndarray, outcome: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """ECE: the mean gap between probability and outcome frequency over equal-width bins, weighted by their share of
    the pairs; one value per row of pair weights (R, M), or a 0-d array without weights."""
    rows = np.ones((1, len(probability))) if weights is None else weights
    where = np.minimum((probability * BINS).astype(int), BINS - 1)
    gap = np.zeros(len(rows))
    for b in range(BINS):
        inside = where == b
        if inside.any():
            gap += np.abs(rows[:, inside] @ (probability[inside] - outcome[inside]))
    total = rows.sum(1)
    found = np.divide(gap, total, out=np.full(len(rows), np.nan), where=total > 0)
    return found if weights is not None else found[0]


def reliability_bins(probability: np.ndarray, outcome: np.ndarray) -> list[ReliabilityBin]:
    """The reliability diagram: per non-empty bin, the mean probability, the outcome frequency and the count."""
    where = np.minimum((probability * BINS).astype(int), BINS - 1)
    return [
        ReliabilityBin(
            low=b / BINS,
            high=(b + 1) / BINS,
            probability=float(probability[where == b].mean()),
            observed=float(outcome[where == b].mean()),
            count=int((where == b).sum()),
        )
        for b in range(BINS)
        if (where == b).any()
    ]


def tempered(probs: np.ndarray, temperature: float, activation: str) -> np.ndarray:
    """The probabilities the network gives with its logits divided by `temperature` (log-probabilities are logits
    up to a constant per case, so this holds for an ensemble's averaged probabilities too)."""
    probs = np.clip(np.asarray(probs, float), EPS, 1 - EPS)
    if activation == "softmax":
        logits = np.log(probs) / temperature
        logits -= logits.max(1, keepdims=True)
        return np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return 1 / (1 + np.exp(-np.log(probs / (1 - probs)) / temperature))


def tempered_threshold(threshold: float, temperature: float) -> float:
    """Where a threshold on a finding's probability lies once the logits are divided by `temperature`: the same
    cases are called (a two-class softmax's finding is the sigmoid of the logits' difference)."""
    t = min(max(threshold, EPS), 1 - EPS)
    return float(1 / (1 + np.exp(-np.log(t / (1 - t)) / temperature)))


def fit_temperature(probs: np.ndarray, truth: np.ndarray, activation: str) -> float:
    """The T in `TEMPERATURES` that minimises the negative log-likelihood of the truth (Guo et al., 2017)."""
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        p = np.clip(tempered(probs, float(np.exp(log_t)), activation), EPS, 1 - EPS)
        if activation == "softmax":
            return float(-np.log(p[np.arange(len(p)), truth]).mean())
        return float(-(truth * np.log(p) + (1 - truth) * np.log(1 - p)).mean())

    found = minimize_scalar(nll, bounds=tuple(np.log(TEMPERATURES)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(found.x))


def brier(probs: np.ndarray, truth: np.ndarray, activation: str) -> float:
    """The mean squared distance between the probabilities and the truth, summed over the classes (softmax) or
    averaged over the findings (sigmoid)."""
    onehot = np.eye(probs.shape[1])[truth] if activation == "softmax" else np.asarray(truth, float)
    squared = (np.asarray(probs, float) - onehot) ** 2
    return float(squared.sum(1).mean() if activation == "softmax" else squared.mean())


def calibration(probs: np.ndarray, truth: np.ndarray, activation: str, fit: bool, seed: int = 0) -> Calibration:
    """How reliable these probabilities are, with a temperature fitted on them when `fit` (the validation cases of a
    task) and kept only where, cross-fitted (T from one half applied to the other), it lowers the ECE."""
    probs, truth = np.asarray(probs, float), np.asarray(truth)
    strata = truth if activation == "softmax" else np.unique(truth, axis=0, return_inverse=True)[1].ravel()
    ece, interval, bins = _judge(probs, truth, activation, strata, seed)
    found = Calibration(scope=_scope(activation), bins=bins, ece=ece, ece_interval=interval, brier=brier(probs, truth, activation))
    if not fit:
        return found
    if len(probs) < FIT_CASES or len(np.unique(strata)) < 2:
        return found.model_copy(update={"note": f"No temperature fitted: {len(probs)} cases, fewer than {FIT_CASES}, or one class."})
    halves = _halves(strata, seed)
    scaled = np.empty_like(probs)
    for fitted_on, applied_to in (halves, halves[::-1]):
        scaled[applied_to] = tempered(probs[applied_to], fit_temperature(probs[fitted_on], truth[fitted_on], activation), activation)
    after, after_interval, after_bins = _judge(scaled, truth, activation, strata, seed)
    temperature = fit_temperature(probs, truth, activation)
    kept = after < ece
    note = (
        f"Temperature {temperature:.2f} fitted on these {len(probs)} cases; the ECE after it ({after:.3f}) is cross-fitted: "
        "each half scaled by the temperature fitted on the other half."
        + ("" if kept else " It did not lower the ECE there, so the model keeps its own probabilities.")
    )
    return found.model_copy(
        update={
            "temperature": temperature if kept else None,
            "scaled_ece": after,
            "scaled_ece_interval": after_interval,
            "scaled_bins": after_bins,
            "note": note,
        }
    )


def _judge(probs: np.ndarray, truth: np.ndarray, activation: str, strata: np.ndarray, seed: int):
    """(ECE, its 95% interval over stratified resamples of the cases, the reliability bins)."""
    probability, outcome, case = judged(probs, truth, activation)
    ece = float(expected_calibration_error(probability, outcome))
    draws = [expected_calibration_error(probability, outcome, w[:, case]) for w in intervals.resample_weights(strata, seed=seed)]
    smallest = int(np.unique(strata, return_counts=True)[1].min())
    return ece, intervals.percentile_interval(np.concatenate(draws), ece, smallest), reliability_bins(probability, outcome)


def _halves(strata: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two halves of the cases, each stratum dealt alternately after a seeded shuffle."""
    rng, first, second = np.random.default_rng(seed), [], []
    for s in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == s))
        first.append(members[0::2])
        second.append(members[1::2])
    return np.concatenate(first), np.concatenate(second)


def _scope(activation: str) -> str:
    return "the top class's probability" if activation == "softmax" else "each finding's probability"
