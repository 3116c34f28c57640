"""General: choose the task type, from the registered task kinds."""

from __future__ import annotations

import ipywidgets as w

from .. import kinds
from ..wizard import Step, Wizard
from .base import StepView
from .style import card, mark_selected


class TaskStep(StepView):
    step = Step.task

    def __init__(self, wizard: Wizard):
        super().__init__(wizard)
        self.cards = {k.name: card(k.title, k.about, lambda name=k.name: self.wizard.update(task=name)) for k in kinds.all_kinds()}
        self.widget = w.VBox([w.HTML("<h2>Task type</h2>"), w.HBox(list(self.cards.values()), layout=w.Layout(flex_flow="row wrap"))])

    def refresh(self) -> None:
        mark_selected(self.cards, self.wizard.draft.task)
