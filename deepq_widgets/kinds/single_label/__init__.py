"""Single-label classification: one class per image."""

from __future__ import annotations

from dataclasses import dataclass

from ..base import TaskKind


@dataclass(frozen=True, eq=False)
class SingleLabel(TaskKind):
    def dataset_problem(self, info) -> str | None:
        problem = super().dataset_problem(info)
        if problem is None and len(info.class_counts) < 2:
            return "single-label classification needs at least 2 classes with cases"
        return problem

    def uses_operating_point(self, classes: int) -> bool:
        return classes == 2  # more classes are called by the most probable


KIND = SingleLabel(
    name="single_label",
    order=10,
    title="Single-label classification",
    about="One label per image, e.g. benign / malignant / normal.",
    annotations=("single_label",),
    headline=("accuracy", "auroc", "sensitivity", "specificity"),
    charts=("roc", "pr", "confusion"),
    head="a linear classifier on the pooled features (softmax)",
    ensembles=True,
    label_review=True,
    training="deepq_widgets.kinds.single_label.training:SingleLabelTraining",
)
