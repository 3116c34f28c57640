"""The task list with state filters; choosing a task shows its monitor and detail."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from ..store import STATES, Store
from .base import UserChanges

FILTERS = ["All", *[s.capitalize() for s in STATES]]


class TaskList:
    def __init__(self, on_select: Callable[[int | None], None]):
        self.on_select = on_select
        self.filter = w.ToggleButtons(options=FILTERS, value="All", style={"button_width": "86px"})
        self.choice = w.Select(options=[], rows=10, layout=w.Layout(width="100%"))
        self.filter.observe(lambda change: self.refresh_from(self._store), "value")
        self.changes = UserChanges()
        self.changes.observe(self.choice, self._on_choice)
        self.widget = w.VBox([self.filter, self.choice])
        self._store: Store | None = None

    def _on_choice(self, change=None) -> None:
        self.on_select(self.choice.value)

    def refresh_from(self, store: Store | None) -> None:
        self._store = store
        if store is None:
            return
        states = None if self.filter.value == "All" else (self.filter.value.lower(),)
        options = [(f"#{t.id} {t.name} — {t.state.capitalize()} — {t.progress:.0%}", t.id) for t in store.tasks(states)]
        if options != list(self.choice.options):
            with self.changes.quiet():
                keep = self.choice.value
                self.choice.options = options
                self.choice.value = keep if keep in [v for _, v in options] else None

    def select(self, task_id: int) -> None:
        self.filter.value = "All"
        self.refresh_from(self._store)
        self.choice.value = task_id
