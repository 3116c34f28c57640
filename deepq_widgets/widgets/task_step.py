"""General: choose the task type."""

from __future__ import annotations

import ipywidgets as w

from ..spec import TASK_TITLES, TaskType
from ..wizard import Step, Wizard
from .base import StepView
from .style import card, mark_selected

ABOUT = {
    TaskType.single_label: "One label per image, e.g. benign / malignant / normal.",
    TaskType.multi_label: "Any number of findings per image, e.g. several hemorrhage types.",
    TaskType.detection: "Boxes around each finding, e.g. nodules and masses.",
    TaskType.segmentation: "A class for every pixel, e.g. liver and kidneys.",
}


class TaskStep(StepView):
    step = Step.task

    def __init__(self, wizard: Wizard):
        super().__init__(wizard)
        self.cards = {t: card(TASK_TITLES[t], ABOUT[t], lambda t=t: self.wizard.update(task=t)) for t in TaskType}
        self.widget = w.VBox([w.HTML("<h2>Task type</h2>"), w.HBox(list(self.cards.values()), layout=w.Layout(flex_flow="row wrap"))])

    def refresh(self) -> None:
        mark_selected(self.cards, self.wizard.state.task)
