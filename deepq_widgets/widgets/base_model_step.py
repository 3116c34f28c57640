"""Retrain: the registry's models, with their metrics, network, classes and source dataset."""

from __future__ import annotations

import ipywidgets as w

from .. import kinds
from ..wizard import Step, Wizard
from .base import StepView
from .style import esc


def describe(card) -> str:
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in card.metrics.headline.items() if v is not None)
    title = kinds.shown(card.task).title
    return (
        f"<b>{esc(card.name)}</b> <span class='dq-muted'>({esc(card.id)})</span><br>{esc(title)} · {esc(card.arch)} · "
        f"classes {esc(', '.join(card.classes))} · trained on {esc(card.dataset)}<br>{esc(metrics)}"
    )


class BaseModelStep(StepView):
    step = Step.base_model

    def __init__(self, wizard: Wizard):
        super().__init__(wizard)
        self.choice = w.Select(options=[], rows=8, layout=w.Layout(width="100%"))
        self.info = w.HTML()
        self.changes.observe(self.choice, self._on_choice)
        self.widget = w.VBox([w.HTML("<h2>Choose a model to retrain</h2>"), self.choice, self.info])

    def _on_choice(self, change=None) -> None:
        if self.choice.value:
            self.wizard.update(base_model=self.choice.value)

    def refresh(self) -> None:
        cards = self.wizard.context.base_models()
        with self.changes.quiet():
            self.choice.options = [(f"{c.name} — {c.arch} — {', '.join(c.classes)}", c.id) for c in cards.values()]
            self.choice.value = self.wizard.draft.model.base_model if self.wizard.draft.model.base_model in cards else None
        chosen = cards.get(self.wizard.draft.model.base_model or "")
        self.info.value = describe(chosen) if chosen else ("<i>No trained models yet: finish a task first.</i>" if not cards else "")
