"""Calibration against its definitions: ECE by an explicit loop, a temperature recovered from probabilities made
over-confident on purpose, and a threshold that calls the same cases once the probabilities are tempered."""

import numpy as np
import pytest

from deepq_widgets.calibration import (
    BINS,
    brier,
    calibration,
    expected_calibration_error,
    fit_temperature,
    tempered,
    tempered_threshold,
)


def reference_ece(probability, outcome):
    total = 0.0
    for b in range(BINS):
        inside = [i for i, p in enumerate(probability) if min(int(p * BINS), BINS - 1) == b]
        if inside:
            total += len(inside) / len(probability) * abs(np.mean(probability[inside]) - np.mean(outcome[inside]))
    return total


def overconfident(n: int, factor: float, seed: int):
    """Cases whose true probability of the finding is sigmoid(z), told as sigmoid(factor * z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, n)
    truth = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    said = 1 / (1 + np.exp(-factor * z))
    return np.c_[1 - said, said], truth


def test_ece_is_its_definition_and_weights_resample_it():
    rng = np.random.default_rng(1)
    probability, outcome = rng.random(300), (rng.random(300) < 0.5).astype(float)
    assert expected_calibration_error(probability, outcome) == pytest.approx(reference_ece(probability, outcome))
    doubled = np.r_[np.ones(300), np.zeros(0)][None] * 2  # every case counted twice: the same ECE
    assert expected_calibration_error(probability, outcome, doubled)[0] == pytest.approx(reference_ece(probability, outcome))


def test_the_temperature_of_overconfident_probabilities_is_recovered_and_lowers_the_ece():
    probs, truth = overconfident(4000, 3.0, seed=2)
    assert fit_temperature(probs, truth, "softmax") == pytest.approx(3.0, rel=0.1)
    found = calibration(probs[:400], truth[:400], "softmax", fit=True)
    assert found.temperature is not None and found.temperature > 1.5
    assert found.scaled_ece < found.ece and found.ece_interval[0] <= found.ece <= found.ece_interval[1]
    assert sum(b.count for b in found.bins) == 400 and "cross-fitted" in found.note


def test_well_calibrated_probabilities_keep_their_own():
    probs, truth = overconfident(400, 1.0, seed=3)
    found = calibration(probs, truth, "softmax", fit=True)
    assert found.ece_interval[0] <= 0.05  # honest probabilities: an ECE near zero
    assert found.temperature is None or abs(np.log(found.temperature)) < 0.3


def test_a_tempered_threshold_calls_the_same_cases():
    probs, _ = overconfident(500, 2.0, seed=4)
    for t in (0.2, 0.5, 0.83):
        assert ((probs[:, 1] >= t) == (tempered(probs, 2.5, "softmax")[:, 1] >= tempered_threshold(t, 2.5))).all()
        assert tempered_threshold(tempered_threshold(t, 2.5), 1 / 2.5) == pytest.approx(t)


def test_findings_are_judged_each_and_no_temperature_is_fitted_on_a_test_set_or_few_cases():
    rng = np.random.default_rng(5)
    truth = (rng.random((200, 3)) < 0.3).astype(int)
    probs = np.clip(truth * 0.6 + rng.random((200, 3)) * 0.4, 0, 1)
    found = calibration(probs, truth, "sigmoid", fit=False)
    assert sum(b.count for b in found.bins) == 600 and found.temperature is None and found.scaled_ece is None
    assert found.brier == pytest.approx(brier(probs, truth, "sigmoid")) == pytest.approx(float(((probs - truth) ** 2).mean()))
    few = calibration(np.c_[[0.9, 0.2] * 5, [0.1, 0.8] * 5], np.array([0, 1] * 5), "softmax", fit=True)
    assert few.temperature is None and "fewer than" in few.note
