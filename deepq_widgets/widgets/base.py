"""The contract every wizard step view keeps: a widget, refresh() from the state, reset()."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import ipywidgets as w

from ..wizard import Step, Wizard


class UserChanges:
    """Tells a user's change from a view's own update, so that handlers do not echo it back.

    changes = UserChanges()
    changes.observe(dropdown, self._on_choice)   # called for the user's changes only
    with changes.quiet():                        # the view's own writes
        dropdown.value = state.dataset
    """

    def __init__(self) -> None:
        self.muted = False

    @contextmanager
    def quiet(self) -> Iterator[None]:
        muted, self.muted = self.muted, True
        try:
            yield
        finally:
            self.muted = muted

    def observe(self, widget: w.Widget, handler: Callable[..., Any], names: str = "value") -> None:
        widget.observe(lambda change: None if self.muted else handler(change), names)


class StepView:
    """A view of one step. `refresh()` copies wizard state into the widgets (quietly); handlers send actions."""

    step: Step

    def __init__(self, wizard: Wizard):
        self.wizard = wizard
        self.changes = UserChanges()
        self.widget: w.Widget = w.VBox()

    @property
    def status(self) -> str:
        """init | ready | done | error, for the step indicator and tests."""
        return "done" if self.wizard.step_problem(self.step) is None else "ready"

    def refresh(self) -> None:
        """Show the wizard's current state."""

    def reset(self) -> None:
        self.refresh()
