"""The operating point: chosen on validation by its rule, kept by the model, applied by evaluate and predict."""

import numpy as np
import pytest
import torch

from deepq_widgets import kinds
from deepq_widgets.spec import OperatingPoint
from deepq_widgets.training.metrics import operating_threshold

# Ten positives and ten negatives whose scores overlap in the middle.
TRUTH = np.r_[np.ones(10), np.zeros(10)].astype(int)
SCORE = np.r_[[0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.45, 0.4, 0.3, 0.2], [0.75, 0.65, 0.5, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05]]


def rates(t: float) -> tuple[float, float]:
    return float((SCORE[:10] >= t).mean()), float((SCORE[10:] < t).mean())


def test_youden_maximises_sensitivity_plus_specificity():
    t = operating_threshold(TRUTH, SCORE)
    best = max(sum(rates(c)) for c in np.unique(SCORE))
    assert sum(rates(t)) == pytest.approx(best)


@pytest.mark.parametrize("target", [0.8, 0.9, 1.0 - 1e-9])
def test_sensitivity_rule_reaches_its_target_with_the_best_specificity(target):
    t = operating_threshold(TRUTH, SCORE, OperatingPoint(rule="sensitivity", target=min(target, 0.999)))
    sens, spec = rates(t)
    assert sens >= min(target, 0.999)
    assert all(rates(c)[1] <= spec for c in np.unique(SCORE) if rates(c)[0] >= min(target, 0.999))


def test_specificity_rule_reaches_its_target_with_the_best_sensitivity():
    t = operating_threshold(TRUTH, SCORE, OperatingPoint(rule="specificity", target=0.9))
    sens, spec = rates(t)
    assert spec >= 0.9 and all(rates(c)[0] <= sens for c in np.unique(SCORE) if rates(c)[1] >= 0.9)


def test_two_class_evaluation_calls_the_finding_at_the_chosen_threshold_and_keeps_it():
    acc = kinds.get("single_label").trainer.accumulator(["normal", "nodule"])
    acc.operating_point = OperatingPoint(rule="sensitivity", target=0.9)
    probs = np.c_[1 - SCORE, SCORE]
    acc.add(torch.log(torch.tensor(probs, dtype=torch.float64)).float(), (torch.tensor(TRUTH),))  # softmax gives probs back
    evaluation = acc.evaluation("single_label", [f"{i}.png" for i in range(20)])
    t = evaluation.thresholds[1]
    assert evaluation.metrics.headline["sensitivity"] == pytest.approx(rates(t)[0]) and rates(t)[0] >= 0.9
    assert evaluation.per_class[1].threshold == pytest.approx(t)
    # predict applies the kept threshold, not the most probable class
    trainer = kinds.get("single_label").trainer
    below = {"normal": 1 - (t - 0.01), "nodule": t - 0.01}
    assert trainer.decide({"normal": 1 - t, "nodule": t}, evaluation.thresholds) == "nodule"
    assert trainer.decide(below, evaluation.thresholds) == "normal"


def test_multi_label_findings_are_called_per_class_threshold():
    trainer = kinds.get("multi_label").trainer
    called = trainer.decide({"a": 0.3, "b": 0.3, "c": 0.9}, [0.2, 0.5, 0.95])
    assert called == "a"
    assert trainer.decide({"a": 0.1, "b": 0.3, "c": 0.9}, [0.2, 0.5, 0.95]) == "no finding"
    assert trainer.decide({"a": 0.3, "b": 0.6, "c": 0.9}, [0.2, 0.5, 0.95]) == "a, b"
