"""The 95% intervals against references: published Wilson values, DeLong's variance from its
definition, and coverage of a simulated set whose true AUROC is known."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from deepq_widgets.intervals import (
    auroc,
    bootstrap,
    chance_warning,
    delong,
    f1_interval,
    format_figure,
    odds_ratio_interval,
    small_sample_warning,
    wilson,
)
from deepq_widgets.training.metrics import multi_label, per_class_table, single_label


def test_wilson_matches_newcombes_worked_examples():
    # Newcombe (1998), Statistics in Medicine 17:857, Table I: 81/263 and 15/148, Wilson score method.
    assert wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson(15, 148) == pytest.approx((0.0624, 0.1605), abs=1e-4)
    low, high = wilson(10, 10)  # a perfect score on 10 cases is not certain
    assert low == pytest.approx(0.7225, abs=1e-4) and high == pytest.approx(1.0)


def test_delong_variance_equals_its_definition_on_hanley_and_mcneils_ratings():
    # Hanley and McNeil (1982), Radiology 143:29, Table 1: five-point ratings of 58 normal and 51 abnormal CT images.
    normal = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
    abnormal = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
    truth, score = np.r_[np.zeros(58), np.ones(51)], np.r_[normal, abnormal].astype(float)
    assert auroc(truth, score) == pytest.approx(0.893, abs=5e-4)  # the paper's area
    # DeLong's variance from its definition: placement values by explicit pairwise comparison.
    psi = (abnormal[:, None] > normal[None, :]) + 0.5 * (abnormal[:, None] == normal[None, :])
    area = psi.mean()
    variance = psi.mean(1).var(ddof=1) / 51 + psi.mean(0).var(ddof=1) / 58
    se_logit = math.sqrt(variance) / (area * (1 - area))
    expected = [1 / (1 + math.exp(-(math.log(area / (1 - area)) + s * 1.959964 * se_logit))) for s in (-1, 1)]
    assert delong(truth, score) == pytest.approx(expected, abs=1e-9)
    assert math.sqrt(variance) == pytest.approx(0.032, abs=0.004)  # the paper's standard error, by another method


def test_delong_covers_a_known_auroc_about_95_percent_of_the_time():
    rng, separation = np.random.default_rng(0), 1.0
    true_auc = norm.cdf(separation / math.sqrt(2))  # binormal, equal variances
    hits = 0
    for _ in range(400):
        score = np.r_[rng.normal(separation, 1, 30), rng.normal(0, 1, 30)]
        low, high = delong(np.r_[np.ones(30), np.zeros(30)], score)
        hits += low <= true_auc <= high
    assert 0.92 <= hits / 400 <= 0.98


def test_bootstrap_covers_a_known_accuracy_and_is_seeded():
    rng, truth_p, hits = np.random.default_rng(1), 0.8, 0
    for _ in range(60):
        correct = (rng.random(80) < truth_p).astype(float)
        low, high = bootstrap(lambda i, c=correct: {"accuracy": c[i].mean()}, np.zeros(80), resamples=400)["accuracy"]
        hits += low <= truth_p <= high
    assert 0.85 <= hits / 60 <= 1.0
    stat = lambda i: {"share": float((np.arange(50)[i] % 3 == 0).mean())}  # noqa: E731
    assert bootstrap(stat, np.arange(50) % 2, seed=3) == bootstrap(stat, np.arange(50) % 2, seed=3)


def test_a_perfect_score_on_twenty_cases_gets_a_wide_interval_and_a_warning():
    probs = np.r_[np.c_[np.full(10, 0.9), np.full(10, 0.1)], np.c_[np.full(10, 0.2), np.full(10, 0.8)]]
    truth = np.r_[np.zeros(10, int), np.ones(10, int)]
    m = single_label(probs, truth, ["normal", "nodule"], with_intervals=True)
    assert m.headline["auroc"] == 1.0 and m.intervals["auroc"][0] < 0.8 and m.intervals["auroc"][1] == 1.0
    assert m.intervals["accuracy"][0] == pytest.approx(0.839, abs=1e-3)  # Wilson on 20 of 20
    assert m.cases == 20 and "unstable" in m.warning
    assert m.flat()["auroc_ci"] == list(m.intervals["auroc"])
    assert format_figure(m.headline["auroc"], m.intervals["auroc"]).startswith("1.00 (0.")


def test_multi_label_and_many_class_figures_carry_bootstrap_intervals():
    rng = np.random.default_rng(2)
    truth = (rng.random((120, 3)) < 0.4).astype(int)
    probs = np.clip(truth * 0.5 + rng.random((120, 3)) * 0.6, 0, 1)
    m = multi_label(probs, truth, ["a", "b", "c"], with_intervals=True)
    for name in ("auroc", "f1"):
        low, high = m.intervals[name]
        assert low < m.headline[name] < high
    truth10 = rng.integers(0, 10, 200)
    probs10 = rng.dirichlet(np.ones(10), 200)
    probs10[np.arange(200), truth10] += 0.3
    m10 = single_label(probs10 / probs10.sum(1, keepdims=True), truth10, [str(k) for k in range(10)], with_intervals=True)
    assert m10.intervals["auroc"][0] < m10.headline["auroc"] < m10.intervals["auroc"][1]
    assert m10.warning is None


def test_small_sample_warning():
    assert small_sample_warning(49, {"a": 30, "b": 19}) is not None
    assert "b" in small_sample_warning(200, {"a": 191, "b": 9})
    assert small_sample_warning(200, {"a": 100, "b": 100}) is None


def test_midranks_match_scipy():
    from scipy.stats import rankdata as reference

    from deepq_widgets.intervals import rankdata

    values = np.random.default_rng(4).integers(0, 6, 300).astype(float)
    assert np.allclose(rankdata(values), reference(values))


def test_a_class_of_two_cases_widens_the_interval_by_the_rao_wu_factor():
    from deepq_widgets.intervals import percentile_interval

    draws = np.linspace(0.4, 0.6, 1001)
    raw = np.quantile(draws, [0.025, 0.975])
    low, high = percentile_interval(draws, 0.5, smallest=2)
    assert high - low == pytest.approx((raw[1] - raw[0]) * math.sqrt(2))
    assert percentile_interval(draws, 0.5, smallest=1000) == pytest.approx(tuple(raw), abs=1e-3)


def test_f1_and_dor_intervals_cover_the_populations_figures_about_95_percent_of_the_time():
    """A test with known sensitivity 0.8 and specificity 0.9 at 30% prevalence, 200 cases a draw: F1 through the
    Jaccard index's Wilson interval, the DOR by Woolf's log interval."""
    rng, prevalence, sens, spec = np.random.default_rng(2), 0.3, 0.8, 0.9
    tp, fp, fn = prevalence * sens, (1 - prevalence) * (1 - spec), prevalence * (1 - sens)
    true_f1, true_dor = 2 * tp / (2 * tp + fp + fn), sens * spec / ((1 - sens) * (1 - spec))
    f1_hits = dor_hits = 0
    for _ in range(400):
        real = rng.random(200) < prevalence
        said = np.where(real, rng.random(200) < sens, rng.random(200) > spec)
        counts = [int((said & real).sum()), int((said & ~real).sum()), int((~said & real).sum()), int((~said & ~real).sum())]
        low, high = f1_interval(*counts[:3])
        f1_hits += low <= true_f1 <= high
        low, high = odds_ratio_interval(*counts)
        dor_hits += low <= true_dor <= high
    assert 0.92 <= f1_hits / 400 <= 0.98 and 0.92 <= dor_hits / 400 <= 0.985


def test_every_figure_of_the_per_class_table_has_an_interval_the_average_row_too():
    rng = np.random.default_rng(3)
    truth = np.repeat(np.arange(3), 40)
    logits = np.eye(3)[truth] * 1.5 + rng.normal(0, 1, (120, 3))
    scores = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    decided = np.eye(3)[scores.argmax(1)]
    rows = per_class_table(scores, decided, np.eye(3)[truth], ["a", "b", "c"])
    figures = ["sensitivity", "specificity", "precision", "recall", "accuracy", "f1", "dor", "auc", "brier"]
    assert rows[-1]["class"] == "average"
    for row in rows:
        assert set(row["intervals"]) == set(figures), row["class"]
        for name in figures:
            low, high = row["intervals"][name]
            assert low <= row[name] <= high and high > low, (row["class"], name)
    again = per_class_table(scores, decided, np.eye(3)[truth], ["a", "b", "c"])[-1]["intervals"]
    assert again == rows[-1]["intervals"]  # seeded: the same table gives the same intervals


def test_the_average_row_of_a_perfect_table_keeps_a_real_interval():
    """Every call right: stratified resamples never move the counts, so the bootstrap has no spread; the average
    row then takes the mean of its classes' intervals (a DOR of 561 on 24 cases is not known to be exactly 561)."""
    truth = np.repeat(np.arange(3), 8)
    onehot = np.eye(3)[truth]
    average = per_class_table(onehot * 0.9 + 0.05, onehot, onehot, ["a", "b", "c"])[-1]
    assert set(average["intervals"]) == {"sensitivity", "specificity", "precision", "recall", "accuracy", "f1", "dor", "auc", "brier"}
    for name, (low, high) in average["intervals"].items():
        assert low < high and low <= average[name] <= high, name


def test_a_classifier_no_better_than_chance_says_so_and_a_good_one_does_not():
    rng = np.random.default_rng(5)
    truth = np.r_[np.zeros(20, int), np.ones(20, int)]
    noise = rng.random(40)
    guessing = single_label(np.c_[1 - noise, noise], truth, ["normal", "nodule"], with_intervals=True)
    assert guessing.intervals["auroc"][0] <= 0.5 and guessing.chance.startswith("Not shown better than chance: the AUROC")
    assert guessing.flat()["chance"] == guessing.chance
    knowing = np.clip(truth * 0.6 + noise * 0.4, 0, 1)
    assert single_label(np.c_[1 - knowing, knowing], truth, ["normal", "nodule"], with_intervals=True).chance is None
    # without an AUROC (one class absent) the accuracy is judged against always calling the largest class
    assert chance_warning({"accuracy": (0.55, 0.80)}, {"normal": 30, "nodule": 10}).endswith("calling every case normal scores.")
    assert chance_warning({"accuracy": (0.80, 0.95)}, {"normal": 30, "nodule": 10}) is None
    inverted = single_label(np.c_[noise * 0 + truth, 1 - truth], truth, ["normal", "nodule"], with_intervals=True)
    assert inverted.headline["auroc"] == 0.0 and inverted.chance is not None  # worse than chance is flagged too
