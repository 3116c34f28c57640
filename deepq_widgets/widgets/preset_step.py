"""Specialized: the preset cards, each saying which images and annotations it needs."""

from __future__ import annotations

import ipywidgets as w

from .. import kinds
from ..wizard import Step, Wizard
from .base import StepView
from .style import card, esc, mark_selected


class PresetStep(StepView):
    step = Step.preset

    def __init__(self, wizard: Wizard):
        super().__init__(wizard)
        self.cards = {}
        for pid, p in wizard.context.presets.items():
            body = (
                f"{esc(kinds.get(p.task).title)} ({len(p.classes)})<br>{esc(p.image)}<br><i>{esc(', '.join(p.classes))}</i><br>"
                f"Needs: {esc(p.dataset.format.upper())}, at least {p.dataset.min_cases} cases.<br>{esc(p.dataset.help)}"
            )
            self.cards[pid] = card(p.title, body, lambda pid=pid: self.wizard.update(preset=pid))
            self.cards[pid].layout.width = "340px"
        self.widget = w.VBox([w.HTML("<h2>Choose a preset</h2>"), w.HBox(list(self.cards.values()), layout=w.Layout(flex_flow="row wrap"))])

    def refresh(self) -> None:
        mark_selected(self.cards, self.wizard.draft.preset)
