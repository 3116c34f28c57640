"""The fit diagnosis on the curves a user meets: good, under-, over-fit, a perfect model, a noisy one."""

import pytest

from deepq_widgets.contracts import EpochEvent, Metrics
from deepq_widgets.insight import diagnose_fit


def curve(train: list[float], valid: list[float]) -> list[EpochEvent]:
    return [
        EpochEvent(epoch=i, train_loss=t, valid_loss=v, metrics=Metrics(), lr=1e-3, seconds=1.0, best=False)
        for i, (t, v) in enumerate(zip(train, valid, strict=True))
    ]


@pytest.mark.parametrize(
    ("train", "valid", "verdict"),
    [
        ([1.0, 0.6, 0.4, 0.3, 0.25, 0.22], [1.0, 0.7, 0.5, 0.42, 0.40, 0.39], "good fit"),
        ([1.0, 0.97, 0.95, 0.93, 0.92], [1.0, 0.98, 0.97, 0.96, 0.96], "under-fit"),
        ([1.0, 0.5, 0.3, 0.15, 0.08, 0.04, 0.02], [1.0, 0.6, 0.45, 0.48, 0.58, 0.66, 0.75], "over-fit"),
        # a perfect model: both losses at zero throughout, with wobbles many times their size in relative terms
        ([2e-4, 1e-4, 5e-5, 4e-5, 3e-5, 3e-5], [1e-5, 2e-6, 1e-6, 3e-6, 8e-6, 2e-5], "good fit"),
        # a noisy validation loss that wobbles around its best without a lasting rise
        ([1.0, 0.6, 0.4, 0.3, 0.25, 0.2, 0.18], [0.9, 0.55, 0.50, 0.58, 0.49, 0.57, 0.52], "good fit"),
        ([1.0, 0.8], [1.0, 0.9], "too early"),
    ],
)
def test_diagnosis(train, valid, verdict):
    assert diagnose_fit(curve(train, valid))[0] == verdict


def test_a_perfect_model_is_not_called_over_fit():
    verdict, why = diagnose_fit(curve([0.0] * 40, [0.0] * 35 + [1e-4] * 5))
    assert verdict == "good fit" and "near zero" in why


def test_the_training_insight_grades_the_class_balance():
    from deepq_widgets.contracts import DataStatistics
    from deepq_widgets.insight import class_balance

    data = DataStatistics(train=56, valid=14, train_counts={"benign": 40, "malignant": 12, "normal": 4}, valid_counts={}, split="random")
    said = class_balance(data)
    assert "benign 40 (well represented)" in said and "malignant 12 (mildly under-represented)" in said
    assert "normal 4 (seriously under-represented)" in said and "1:10.0" in said
    assert class_balance(None) == ""


def test_confusion_counts_are_readable_on_dark_and_light_cells():
    from deepq_widgets.plots import count_colour

    assert count_colour(90, 100) == "#ffffff" and count_colour(10, 100) == "#1f2933" and count_colour(0, 0) == "#1f2933"


def test_the_roc_legend_gives_each_class_its_auc():
    from deepq_widgets.contracts import Evaluation, Metrics, PerClassRow
    from deepq_widgets.report import legend_labels

    rows = [PerClassRow(name="benign", auc=0.934), PerClassRow(name="average")]
    evaluation = Evaluation(task="single_label", classes=["benign", "malignant"], metrics=Metrics(headline={}), cases=[], per_class=rows)
    assert legend_labels(evaluation, "roc") == {"benign": "benign (AUC 0.93)"}
    assert legend_labels(evaluation, "confusion") == {}


def test_class_names_with_dollar_signs_are_drawn_as_written():
    """matplotlib reads '$...$' as mathematics: a class name that is not valid mathematics failed the chart."""
    import matplotlib

    from deepq_widgets import plots

    names = ["cost $5 or $10", r"a$\frac{$b"]
    for png in (
        plots.confusion([[3, 1], [0, 4]], names),
        plots.roc({name: {"fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1]} for name in names}),
        plots.chart("Sizes of $x$", "a $", "b", {names[1]: ([0, 1], [1, 2])}, "line", ""),
    ):
        assert png.startswith(b"\x89PNG")
    assert matplotlib.rcParams["text.parse_math"]  # the user's own charts keep mathematics
