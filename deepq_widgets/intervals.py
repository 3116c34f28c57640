"""95% confidence intervals for every reported figure, so a figure on 20 cases reads as what it is.

- Proportions (accuracy, sensitivity, specificity): Wilson score intervals, which stay inside
  [0, 1] and do not collapse to a point at 0 or 1 (a perfect score on 10 cases is 0.72–1.00).
- A two-class AUROC: DeLong's variance (the fast midrank form of Sun and Xu, 2014), on the
  logit scale so the interval stays inside [0, 1].
- Everything else (macro AUROC, F1, Dice, mAP): a stratified, seeded percentile bootstrap of
  the cases (1,000 resamples by default), each class resampled within itself, widened by the
  Rao-Wu factor of the smallest class (a class of 2 cases: x1.41; of 20: x1.03).
Where the data cannot show any spread (every resample agrees, or an AUROC of exactly 1), the
interval is the Wilson interval of the smaller class: honest about how few cases there were.

Pure numpy (no scipy import: the dashboard and the CLI format intervals and must start fast);
used by the task kinds' evaluation and by `deepq evaluate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from statistics import NormalDist

import numpy as np

Interval = tuple[float, float]
LEVEL = 0.95
RESAMPLES = 1000
FEW_CASES, FEW_PER_CLASS = 50, 10  # below these a figure carries a visible warning


def z_value(level: float = LEVEL) -> float:
    return NormalDist().inv_cdf(0.5 + level / 2)


def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties given their average rank (midranks), as scipy.stats.rankdata."""
    values = np.asarray(values)
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.r_[first[1:], len(values)] - 1
    ranks = np.empty(len(values))
    ranks[order] = (first[group] + last[group]) / 2 + 1
    return ranks


def wilson(successes: float, n: int, level: float = LEVEL) -> Interval | None:
    """The Wilson score interval of a proportion `successes / n` (None when n is 0)."""
    if n <= 0:
        return None
    z, p = z_value(level), successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def f1_interval(tp: float, fp: float, fn: float, level: float = LEVEL) -> Interval | None:
    """F1 = 2J / (1 + J) where J = TP / (TP + FP + FN), a proportion of the cases that are positive in truth or
    in the call: Wilson's interval of J, carried through that increasing map."""
    jaccard = wilson(tp, int(tp + fp + fn), level)
    return None if jaccard is None else (2 * jaccard[0] / (1 + jaccard[0]), 2 * jaccard[1] / (1 + jaccard[1]))


def odds_ratio_interval(tp: float, fp: float, fn: float, tn: float, level: float = LEVEL) -> Interval:
    """Woolf's interval of the diagnostic odds ratio on the log scale, with Haldane's 0.5 in every cell (as the
    point estimate has), so that an empty cell gives a wide interval rather than none."""
    cells = np.array([tp, fp, fn, tn], float) + 0.5
    log_or = math.log(cells[0] * cells[3] / (cells[1] * cells[2]))
    se = math.sqrt(float((1 / cells).sum()))
    z = z_value(level)
    return math.exp(log_or - z * se), math.exp(log_or + z * se)


def auroc(truth: np.ndarray, score: np.ndarray) -> float | None:
    """The AUROC by ranks (Mann-Whitney; ties count one half); None with one class present."""
    truth = np.asarray(truth).astype(bool)
    m, n = int(truth.sum()), int((~truth).sum())
    if m == 0 or n == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[truth].sum() - m * (m + 1) / 2) / (m * n))


def delong(truth: np.ndarray, score: np.ndarray, level: float = LEVEL) -> Interval | None:
    """DeLong's interval of a two-class AUROC, on the logit scale; None with one class present."""
    truth = np.asarray(truth).astype(bool)
    pos, neg = np.asarray(score)[truth], np.asarray(score)[~truth]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        return None
    together = rankdata(np.concatenate([pos, neg]))
    area = (together[:m].sum() - m * (m + 1) / 2) / (m * n)
    v_pos = (together[:m] - rankdata(pos)) / n  # per positive: the share of negatives it outranks
    v_neg = 1 - (together[m:] - rankdata(neg)) / m  # per negative: the share of positives above it
    variance = (np.var(v_pos, ddof=1) / m if m > 1 else 0.0) + (np.var(v_neg, ddof=1) / n if n > 1 else 0.0)
    if not 0 < area < 1 or variance <= 0:
        return _no_spread(area, min(m, n), level)
    logit, se = math.log(area / (1 - area)), math.sqrt(variance) / (area * (1 - area))
    z = z_value(level)
    return float(_expit(logit - z * se)), float(_expit(logit + z * se))


CHUNK_VALUES = 4_000_000  # values in one array of resample weights (32 MB of float64)


def bootstrap(
    statistic: Callable[[np.ndarray], dict[str, float | None]],
    strata: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
    bounds: Interval | None = (0.0, 1.0),
) -> dict[str, Interval]:
    """Percentile intervals of each figure `statistic(indices)` returns, resampling cases within each
    stratum (class) so that every resample keeps the class counts. Figures lie within `bounds` (a
    proportion's [0, 1]); None for figures in a unit (an error in mm) or unbounded below (R²)."""
    groups = _strata(strata)
    rng = np.random.default_rng(seed)
    point = statistic(np.arange(len(strata)))
    draws: dict[str, list[float]] = {k: [] for k, v in point.items() if v is not None}
    for _ in range(resamples):
        idx = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])
        for name, value in statistic(idx).items():
            if name in draws and value is not None and math.isfinite(value):
                draws[name].append(value)
    smallest = min((len(g) for g in groups), default=0)
    found = {name: percentile_interval(np.array(values), float(point[name]), smallest, level, bounds) for name, values in draws.items()}
    return {name: interval for name, interval in found.items() if interval is not None}


def mean_interval(values: np.ndarray, level: float = LEVEL, bounds: Interval = (0.0, 1.0)) -> Interval | None:
    """The normal interval of a mean over independent cases (a Brier score), within `bounds`; None under two cases.
    Where the cases show no spread at all, Hoeffding's interval for values within `bounds`: never zero-width."""
    values = np.asarray(values, float)
    if len(values) < 2:
        return None
    mean, sd = float(values.mean()), float(values.std(ddof=1))
    spread = z_value(level) * sd / math.sqrt(len(values))
    if spread == 0:
        spread = (bounds[1] - bounds[0]) * math.sqrt(math.log(2 / (1 - level)) / (2 * len(values)))
    return max(bounds[0], mean - spread), min(bounds[1], mean + spread)


def resample_weights(
    strata: np.ndarray, resamples: int = RESAMPLES, seed: int = 0, chunk: int | None = None, columns: int = 0
) -> Iterator[np.ndarray]:
    """Stratified bootstrap resamples as case weights (how often each case is drawn), in (chunk, N)
    arrays: for statistics that are sums over cases, computed for a whole chunk at once. The chunk is as
    many resamples as keep one (chunk, N) array, or one of `columns` (a statistic's widest: detections,
    say), within `CHUNK_VALUES`: at 10⁵ images and 10⁶ detections, 100 resamples at once took tens of GB."""
    groups = _strata(strata)
    rng = np.random.default_rng(seed)
    chunk = chunk or max(1, min(100, CHUNK_VALUES // max(len(strata), columns, 1)))
    for start in range(0, resamples, chunk):
        weights = np.zeros((min(chunk, resamples - start), len(strata)))
        for g in groups:
            weights[:, g] = rng.multinomial(len(g), np.full(len(g), 1 / len(g)), size=len(weights))
        yield weights


def weighted_auroc(truth: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The AUROC under each row of case weights (R, N): the share of weighted positive-negative pairs
    ordered right, ties counting one half. NaN where a row has no positive or no negative."""
    truth = np.asarray(truth).astype(bool)
    order = np.argsort(score, kind="mergesort")
    ordered, w, positive = np.asarray(score)[order], weights[:, order], truth[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # first position of each tie group
    group = np.cumsum(np.r_[True, ordered[1:] != ordered[:-1]]) - 1
    ends = np.r_[starts[1:], len(ordered)]
    neg = np.concatenate([np.zeros((len(w), 1)), np.cumsum(w * ~positive, axis=1)], axis=1)  # negatives before each position
    below = neg[:, starts[group]]
    tied = neg[:, ends[group]] - below
    pairs = (w * positive * (below + 0.5 * tied)).sum(1)
    total = (w * positive).sum(1) * (w * ~positive).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, pairs / np.where(total > 0, total, 1), np.nan)


def percentile_interval(
    values: np.ndarray, point: float, smallest: int, level: float = LEVEL, bounds: Interval | None = (0.0, 1.0)
) -> Interval | None:
    """The percentile interval of bootstrap values (NaNs dropped), or where they show no spread, the Wilson
    interval of the point as a proportion of the smallest stratum (a figure without `bounds`: the point)."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    if high <= low:
        return _no_spread(point, smallest, level) if bounds == (0.0, 1.0) else (point, point)
    # Resampling n cases of a stratum understates the spread by (n - 1) / n in variance (Rao and Wu, 1988):
    # widen about the point by the smallest stratum's factor, which matters when a class has a handful of cases.
    widen = math.sqrt(smallest / (smallest - 1)) if smallest > 1 else 1.0
    low, high = point - (point - low) * widen, point + (high - point) * widen
    floor, ceiling = bounds or (-math.inf, math.inf)
    return float(max(floor, min(low, point))), float(min(ceiling, max(high, point)))


def _strata(strata: np.ndarray) -> list[np.ndarray]:
    """The case indices of each stratum."""
    strata = np.asarray(strata)
    return [np.flatnonzero(strata == s) for s in np.unique(strata)]


def _no_spread(value: float, n: int, level: float) -> Interval:
    """Where resampling shows no spread: the Wilson interval of `value` as a proportion of n cases,
    and never narrower than what the figure itself is."""
    interval = wilson(value * n, n, level) or (0.0, 1.0)
    return float(min(interval[0], value)), float(max(interval[1], value))


def _expit(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def small_sample_warning(cases: int, class_counts: dict[str, int]) -> str | None:
    """The sentence shown beside figures from too few cases to be stable, or None."""
    few = sorted(name for name, count in class_counts.items() if count < FEW_PER_CLASS)
    if cases < FEW_CASES:
        return f"Only {cases} cases: these figures are unstable; read their 95% intervals, not the point values."
    if few:
        return f"Fewer than {FEW_PER_CLASS} cases of {', '.join(few)}: the figures for these classes are unstable."
    return None


def chance_warning(ci: dict[str, Interval], class_counts: dict[str, int]) -> str | None:
    """ "Not shown better than chance", said of a classifier whose AUROC interval reaches 0.5 or, without an AUROC, whose
    accuracy interval reaches the share of the largest class (what always calling that class scores); else None."""
    if (auroc := ci.get("auroc")) is not None:
        if auroc[0] > 0.5:
            return None
        return f"Not shown better than chance: the AUROC's 95% interval ({auroc[0]:.2f}–{auroc[1]:.2f}) reaches 0.5."
    accuracy, total = ci.get("accuracy"), sum(class_counts.values())
    if accuracy is None or not total:
        return None
    largest, count = max(class_counts.items(), key=lambda kv: kv[1])
    if accuracy[0] > count / total:
        return None
    return (
        f"Not shown better than chance: the accuracy's 95% interval ({accuracy[0]:.2f}–{accuracy[1]:.2f}) reaches "
        f"{count / total:.2f}, what calling every case {largest} scores."
    )


def format_figure(value: float | None, interval: Interval | None = None) -> str:
    """'0.83 (0.79–0.87)': two decimals, the interval beside the figure."""
    if value is None:
        return "–"
    if interval is None:
        return f"{value:.2f}"
    return f"{value:.2f} ({interval[0]:.2f}–{interval[1]:.2f})"
