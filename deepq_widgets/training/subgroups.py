"""Results by subgroup: a classifier's figures on the cases of each site, scanner, sex or age band, with their 95%
intervals, at the model's operating point, and a warning where a subgroup is far below the other cases (its
interval lies wholly under theirs): what reviewers of a medical AI paper ask for first (CLAIM, TRIPOD+AI).

An attribute is broken down when it has two values or more, at most `MAX_VALUES` (an identifier is not a group);
a value needs `MIN_CASES` cases to be shown."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..contracts import CaseScores, Evaluation, Metrics, Subgroup
from ..data.attributes import case_attributes
from ..data.cases import Case
from ..intervals import format_figure
from . import metrics

MAX_VALUES = 12
MIN_CASES = 5


def subgroup_figures(scores: CaseScores, attributes: Sequence[dict[str, str]], thresholds: list[float] | None) -> list[Subgroup]:
    """Per attribute, per value: its cases' figures against the rest. `attributes[i]` describes `scores.cases[i]`."""
    probs, truth, classes = np.asarray(scores.probabilities), np.asarray(scores.truth), scores.classes
    threshold = thresholds[metrics.positive_index(classes)] if thresholds and len(classes) == 2 else None
    found = []
    for name in sorted({k for a in attributes for k in a}):
        values = np.array([a.get(name, "") for a in attributes])
        shown = [v for v in sorted(set(values) - {""}) if (values == v).sum() >= MIN_CASES]
        if not 2 <= len(set(values) - {""}) <= MAX_VALUES or not shown:
            continue
        for value in shown:
            inside = values == value
            figures = metrics.single_label(probs[inside], truth[inside], classes, threshold, with_intervals=True)
            rest = metrics.single_label(probs[~inside], truth[~inside], classes, threshold, with_intervals=True)
            found.append(Subgroup(attribute=name, value=value, metrics=figures, warning=below_the_rest(figures, rest)))
    return found


def below_the_rest(group: Metrics, rest: Metrics) -> str | None:
    """Said when the group's AUROC (else accuracy) interval lies wholly below the other cases' interval."""
    name = "auroc" if "auroc" in group.intervals and "auroc" in rest.intervals else "accuracy"
    if name not in group.intervals or name not in rest.intervals or group.intervals[name][1] >= rest.intervals[name][0]:
        return None
    return (
        f"Far below the other cases: {name.upper() if name == 'auroc' else name} "
        f"{format_figure(group.headline[name], group.intervals[name])} against "
        f"{format_figure(rest.headline[name], rest.intervals[name])} on the other {rest.cases} cases."
    )


def subgroups_of(evaluation: Evaluation, cases: Sequence[Case]) -> list[Subgroup]:
    """The evaluation's figures by subgroup, the attributes read from its cases (a classifier's with case scores)."""
    if evaluation.scores is None:
        return []
    by_name = {c.shown: c for c in cases}
    attributes = [case_attributes(by_name[name]) if name in by_name else {} for name in evaluation.scores.cases]
    return subgroup_figures(evaluation.scores, attributes, evaluation.thresholds)
