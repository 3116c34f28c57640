"""The operating point on few cases: kept at the default unless the cases show another threshold is better, with
its own interval; on simulated draws it does no worse than the default on held-out cases, and Youden's J from 20
cases (what the product did before) does."""

import numpy as np

from deepq_widgets.spec import OperatingPoint, OperatingRule
from deepq_widgets.training.metrics import operating_threshold
from deepq_widgets.training.operating_point import DEFAULT, chosen_threshold


def cases(n: int, rng, shift: float = 0.0):
    """Two classes of equal size; the finding's probability from a binormal model, its best threshold above 0.5 by `shift`."""
    truth = np.arange(n) % 2 == 1
    logit = np.where(truth, 1.0, -1.0) + rng.normal(0, 1.3, n) + 2 * shift
    return truth, 1 / (1 + np.exp(-logit))


def accuracy(truth, score, threshold):
    return float(((score >= threshold) == truth).mean())


def test_on_twenty_cases_the_default_is_kept_and_on_many_a_better_threshold_is_found():
    rng = np.random.default_rng(0)
    few = chosen_threshold(*cases(20, rng))
    assert few.value == DEFAULT and few.interval[0] <= DEFAULT <= few.interval[1] and "the default is kept" in few.note
    many = chosen_threshold(*cases(4000, rng, shift=0.25))  # the best threshold is near sigmoid(0.5) = 0.62
    assert many.interval[0] > DEFAULT and 0.58 < many.value < 0.66 and "moved toward the default" in many.note
    assert chosen_threshold(*cases(20, np.random.default_rng(1))) == chosen_threshold(*cases(20, np.random.default_rng(1)))  # seeded


def test_a_sensitivity_target_is_bagged_and_keeps_its_interval():
    truth, score = cases(60, np.random.default_rng(2))
    point = OperatingPoint(rule=OperatingRule.sensitivity, target=0.9)
    found = chosen_threshold(truth, score, point)
    assert found.interval[0] <= found.value <= found.interval[1] and found.note.startswith("sensitivity ≥ 0.90 on 60 cases")


def test_over_draws_the_chosen_point_does_no_worse_than_the_default_on_held_out_cases():
    rng = np.random.default_rng(3)
    test_truth, test_score = cases(20_000, rng)
    default, youden, chosen = [], [], []
    for _ in range(150):
        truth, score = cases(20, rng)
        default.append(accuracy(test_truth, test_score, DEFAULT))
        youden.append(accuracy(test_truth, test_score, operating_threshold(truth, score)))
        chosen.append(accuracy(test_truth, test_score, chosen_threshold(truth, score).value))
    assert np.mean(chosen) >= np.mean(default) - 0.002  # the cases rarely overrule the default, and not at a cost
    assert np.mean(youden) < np.mean(default) - 0.01  # one choice from 20 cases costs accuracy on average
    assert np.min(chosen) >= np.min(youden)


def test_where_the_default_is_not_best_the_chosen_point_beats_it():
    rng = np.random.default_rng(4)
    test_truth, test_score = cases(20_000, rng, shift=0.35)
    default, chosen = accuracy(test_truth, test_score, DEFAULT), []
    for _ in range(60):
        chosen.append(accuracy(test_truth, test_score, chosen_threshold(*cases(100, rng, shift=0.35)).value))
    assert np.mean(chosen) > default + 0.005
