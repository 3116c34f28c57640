"""What the final model trains on: one validated network by default, a 5-fold ensemble when asked for on a
small classification dataset, and the task file as run says which."""

import pytest

from deepq_widgets.autoplan import ENSEMBLE_BELOW, Fingerprint, make_plan, resolved_spec
from deepq_widgets.spec import Modality, parse_spec


def fingerprint(cases: int) -> Fingerprint:
    half = cases // 2
    return Fingerprint(cases, 2, {"a": half, "b": cases - half}, native_side=64, aspect=1.0, channels=1, modality=Modality.other)


def auto(ensemble: bool, task: str = "single_label") -> dict:
    return {"name": "t", "dataset": "d", "task": task, "auto": {"ensemble": ensemble}}


def test_auto_trains_one_network_unless_an_ensemble_is_asked_for():
    plan = make_plan(parse_spec(auto(False)), fingerprint(100))
    assert plan.hyper.folds == 1 and any(note.startswith("One network. The Ensemble preference would train 5") for note in plan.notes)
    large = make_plan(parse_spec(auto(False)), fingerprint(ENSEMBLE_BELOW))
    assert not any(note.startswith("One network") for note in large.notes)  # nothing to suggest where it is not offered
    plan = make_plan(parse_spec(auto(True)), fingerprint(100))
    assert plan.hyper.folds == 5 and any(note.startswith("Final model: a 5-fold ensemble") for note in plan.notes)
    ran_as = resolved_spec(parse_spec(auto(True)), plan, "tf_efficientnet_lite0.in1k")
    assert ran_as.tuning.value == "manual" and ran_as.hyper.folds == 5 and not ran_as.hyper.refit


@pytest.mark.parametrize(
    ("cases", "task", "says"),
    [
        (ENSEMBLE_BELOW, "single_label", f"No ensemble: {ENSEMBLE_BELOW} cases (the ensemble is for fewer than {ENSEMBLE_BELOW})"),
        (100, "segmentation", "No ensemble: only classifiers' outputs are averaged"),
    ],
)
def test_an_ensemble_asked_for_where_the_rule_says_no_is_refused_in_the_plan(cases, task, says):
    plan = make_plan(parse_spec(auto(True, task)), fingerprint(cases))
    assert plan.hyper.folds == 1 and any(note.startswith(says) for note in plan.notes)


def test_full_manual_trains_the_folds_its_task_file_names():
    spec = parse_spec(auto(False) | {"tuning": "manual", "model": {"arch": "tf_efficientnet_lite0.in1k"}, "hyper": {"folds": 3}})
    plan = make_plan(spec, fingerprint(100))
    assert plan.hyper.folds == 3 and any(note.startswith("Final model: a 3-fold ensemble") for note in plan.notes)
    refit = spec.model_copy(update={"hyper": spec.hyper.model_copy(update={"folds": 1, "refit": True})})
    assert any(note.startswith("Final model: refit on every case") for note in make_plan(refit, fingerprint(100)).notes)
