"""Multi-label classification: any number of findings per image."""

from __future__ import annotations

from .. import register
from ..base import TaskKind

KIND = register(
    TaskKind(
        name="multi_label",
        title="Multi-label classification",
        about="Any number of findings per image, e.g. several hemorrhage types.",
        annotations=("multi_label",),
        headline=("auroc", "f1"),
        charts=("roc", "pr"),
        training="deepq_widgets.kinds.multi_label.training:MultiLabelTraining",
    )
)
