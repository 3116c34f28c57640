"""The contract every wizard step view keeps: a widget, refresh() from the state, reset()."""

from __future__ import annotations

from contextlib import contextmanager

import ipywidgets as w

from ..wizard import Step, Wizard


class StepView:
    """A view of one step. `refresh()` copies wizard state into the widgets; handlers send actions.

    `_syncing` is set while refresh() writes widget values, so handlers can tell a user's
    change from the view's own update and do not echo it back as an action.
    """

    step: Step

    def __init__(self, wizard: Wizard):
        self.wizard = wizard
        self._syncing = False
        self.widget: w.Widget = w.VBox()

    @contextmanager
    def syncing(self):
        self._syncing = True
        try:
            yield
        finally:
            self._syncing = False

    @property
    def status(self) -> str:
        """init | ready | done | error, for the step indicator and tests."""
        return "done" if self.wizard.step_problem(self.step) is None else "ready"

    def refresh(self) -> None:
        """Show the wizard's current state."""

    def reset(self) -> None:
        self.refresh()
