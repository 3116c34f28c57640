"""The wizard frame: step indicator, the current step's view, Back and Next with the reason."""

from __future__ import annotations

import ipywidgets as w

from ..wizard import Step, Wizard
from .base import StepView
from .style import MARK, esc


class WizardShell:
    def __init__(self, wizard: Wizard, views: dict[Step, StepView]):
        self.wizard, self.views = wizard, views
        self.indicator = w.HTML()
        self.body = w.Box(layout=w.Layout(display="block"))
        self.back = w.Button(description="‹ Back")
        self.next = w.Button(description="Next ›", button_style="primary")
        self.reason = w.HTML()
        self.back.on_click(lambda _: self.wizard.back())
        self.next.on_click(lambda _: self.wizard.next())
        self.nav = w.HBox([self.back, self.next, self.reason])
        self.widget = w.VBox([self.indicator, self.body, self.nav])
        self._shown: Step | None = None

    def refresh(self) -> None:
        """Redraw after any state change: indicator, current view, navigation."""
        step = self.wizard.state.step
        view = self.views[step]
        if self._shown is not step:
            self.body.children = [view.widget]
            action = getattr(view, "action", None)  # the last step's own button (Start) sits beside Back, as Next does
            self.nav.children = [self.back, action or self.next, self.reason]
            self._shown = step
        view.refresh()
        marks = "".join(
            f"<div class='dq-step dq-step-{status}'>{MARK[status]} {esc(title)}</div>" for _, title, status in self.wizard.progress()
        )
        self.indicator.value = f"<div class='dq-steps'>{marks}</div>"
        steps = self.wizard.steps()
        last = step is steps[-1]
        reason = self.wizard.step_problem(step)
        self.back.disabled = step is steps[0]
        self.next.layout.visibility = "hidden" if last else "visible"
        self.next.disabled = reason is not None
        self.reason.value = "" if last or reason is None else f"<span class='dq-reason'>{esc(reason)}</span>"
