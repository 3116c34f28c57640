"""Create new task: choose General, Specialized or Retrain my model."""

from __future__ import annotations

import ipywidgets as w

from ..spec import Flow
from ..wizard import Step, Wizard
from .base import StepView
from .style import card, mark_selected

FLOWS = {
    Flow.general: ("General training", "Any topic: you pick the task type, the network (or let Auto select do it) and the tuning."),
    Flow.specialized: ("Specialized training", "A prepared topic (hemorrhage, pneumothorax, embolism). About 100 good cases are enough."),
    Flow.retrain: ("Retrain my model", "Start from one of your trained models and train it further on new data."),
}


class FlowStep(StepView):
    step = Step.flow

    def __init__(self, wizard: Wizard):
        super().__init__(wizard)
        self.cards = {flow: card(title, body, lambda f=flow: self.wizard.update(flow=f)) for flow, (title, body) in FLOWS.items()}
        self.widget = w.VBox(
            [w.HTML("<h2>Create new task</h2><div class='dq-muted'>Choose how you want to train.</div>"), w.HBox(list(self.cards.values()))]
        )

    def refresh(self) -> None:
        mark_selected(self.cards, self.wizard.draft.flow)
