"""Multi-label classification: any number of findings per image."""

from __future__ import annotations

from dataclasses import dataclass

from ..base import TaskKind


@dataclass(frozen=True, eq=False)
class MultiLabel(TaskKind):
    def uses_operating_point(self, classes: int) -> bool:
        return True  # each finding has its threshold


KIND = MultiLabel(
    name="multi_label",
    order=20,
    title="Multi-label classification",
    about="Any number of findings per image, e.g. several hemorrhage types.",
    annotations=("multi_label",),
    headline=("auroc", "f1"),
    charts=("roc", "pr"),
    head="a linear classifier on the pooled features (one sigmoid per label)",
    ensembles=True,
    training="deepq_widgets.kinds.multi_label.training:MultiLabelTraining",
)
