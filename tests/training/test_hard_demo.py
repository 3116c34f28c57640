"""The two hard demo datasets teach something: an Auto run (as a demo user starts it) lands between
0.7 and 0.9, with false positives and false negatives for the gallery, where the easy datasets reach 1.0."""

import pytest

from deepq_widgets.report import load_evaluation
from tests.training.conftest import make_spec, run_in_process


@pytest.mark.parametrize(
    ("task", "dataset", "figure"), [("single_label", "thyroid_nodules", "accuracy"), ("segmentation", "liver_lesions", "dice")]
)
def test_a_short_auto_run_on_a_hard_dataset_lands_between_07_and_09(demo_copy, capsys, task, dataset, figure):
    spec = make_spec(demo_copy, capsys, "--flow", "general", "--task", task, "--dataset", dataset, "--name", "hard")
    row, _ = run_in_process(demo_copy, spec)
    assert row.state == "finished", row.error
    assert 0.7 <= row.metrics[figure] <= 0.9, row.metrics
    evaluation = load_evaluation(demo_copy.task_dir(row.id))
    mistakes = [case for g in evaluation.gallery.values() for case in g.fp + g.fn + g.outcomes.get("Found, least well drawn", [])]
    assert mistakes, "a hard dataset shows the model's mistakes in the gallery"
    if task == "segmentation":  # the poorest outlines say how poor
        poorest = [g for g in evaluation.gallery.values() if g.outcomes]
        assert all(g.notes[i].startswith("Dice 0.") for g in poorest for i in g.outcomes["Found, least well drawn"])
