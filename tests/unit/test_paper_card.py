"""The model card for a paper: each item the run knows, filled from its records; the rest asked of the author."""

import numpy as np

from deepq_widgets.calibration import calibration
from deepq_widgets.contracts import DataEvent, DatasetEvaluation, DataStatistics, Evaluation, LabelIssue, LabelIssues, ModelCard
from deepq_widgets.paper_card import QUESTIONS, paper_card, to_html, to_markdown
from deepq_widgets.spec import TaskSpec
from deepq_widgets.training.metrics import single_label
from deepq_widgets.training.subgroups import subgroup_figures
from tests.unit.test_subgroups import scores_by_site


def records():
    scores, attributes = scores_by_site()
    probs, truth = np.asarray(scores.probabilities), np.asarray(scores.truth)
    found = single_label(probs, truth, scores.classes, 0.5, with_intervals=True)
    evaluation = Evaluation(
        task="single_label",
        classes=scores.classes,
        metrics=found,
        cases=scores.cases,
        calibration=calibration(probs, truth, "softmax", fit=True),
        subgroups=subgroup_figures(scores, attributes, [0.5, 0.5]),
        source="120 validation cases that the network never trained on.",
    )
    spec = TaskSpec(name="nodules", dataset="chest", task="single_label", seed=7)
    card = ModelCard(
        id="nodules-t1",
        name="nodules",
        task="single_label",
        arch="tf_efficientnet_lite0.in1k",
        classes=scores.classes,
        image_size=224,
        channels=1,
        mean=[0.5],
        std=[0.25],
        metrics=found,
        thresholds=[0.5, 0.5],
        dataset="chest",
        spec=spec,
    )
    data = DataStatistics(
        train=480,
        valid=120,
        train_counts={"normal": 240, "nodule": 240},
        valid_counts={"normal": 60, "nodule": 60},
        split="Split by patient: no patient on both sides.",
        grouped_by="patient",
    )
    issues = LabelIssues(
        task_id=1,
        dataset="chest",
        source="a 5-fold logistic regression",
        examined=600,
        issues=[LabelIssue(case="a.png", shown="/x/a.png", given="normal", suggested="nodule", confidence=0.97, given_probability=0.03)],
    )
    return card, [DataEvent(statistics=data)], evaluation, issues


def test_the_card_fills_what_the_run_knows_and_asks_the_rest():
    card, events, evaluation, issues = records()
    markdown = to_markdown(paper_card(card, events, evaluation, label_issues=issues))
    for title in ("## Model", "## Data", "## Training (as run)", "## Evaluation", "## Label quality", "## Limitations known from the run"):
        assert title in markdown
    auroc = evaluation.metrics.intervals["auroc"]
    assert f"auroc {evaluation.metrics.headline['auroc']:.2f} ({auroc[0]:.2f}–{auroc[1]:.2f})" in markdown  # figures with intervals
    assert "Unit of the split: the patient" in markdown and "| nodule | 240 | 60 |" in markdown
    assert "expected calibration error" in markdown and "Subgroup site = B (60 cases)" in markdown
    assert "site = B: Far below the other cases" in markdown  # a subgroup warning is a limitation
    assert "No external test set" in markdown and "1 of 600 cases have a likely label error" in markdown
    assert "seed 7" in markdown and "ImageNet (timm tf_efficientnet_lite0.in1k)" in markdown
    assert all(question in markdown for question in QUESTIONS.values())  # nothing answered yet: every item asked


def test_answers_fill_their_items_and_a_test_set_is_reported():
    card, events, evaluation, _ = records()
    tested = DatasetEvaluation(**evaluation.model_dump(exclude_unset=True), model_id=card.id, dataset="chest_external")
    answers = {"intended_use": "Triage of chest radiographs for radiologist review.", "reference_standard": "Two radiologists' consensus."}
    sections = paper_card(card, events, evaluation, [tested], None, answers)
    markdown = to_markdown(sections)
    assert (
        markdown.startswith("## Intended use\n\n- Triage of chest radiographs")
        and "Reference standard: Two radiologists' consensus." in markdown
    )
    assert QUESTIONS["intended_use"] not in markdown and QUESTIONS["data_source"] in markdown
    assert "Test on chest_external (120 cases the model never saw)" in markdown and "No external test set" not in markdown
    assert "Not examined: run `deepq label-issues`" in markdown
    page = to_html(sections, "Model card: nodules")
    assert "<h2>Intended use</h2>" in page and "<script" not in page
