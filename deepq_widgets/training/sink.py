"""Where a run reports: its task's channel to the store. The stages and callbacks know nothing else,
so a run can happen where the store is not (a Ray node, `ray_tasks.py`) behind another sink."""

from __future__ import annotations

from typing import Any, TypeVar

from ..contracts import Event, ModelCard, StatusEvent
from ..store import Store

E = TypeVar("E", bound=Event)


class TaskSink:
    """Typed events, progress, the stop flag and the registered model of one task."""

    def __init__(self, store: Store, task_id: int):
        self.store, self.task_id = store, task_id

    def event(self, event: Event) -> None:
        self.store.add_event(self.task_id, event)

    def status(self, message: str) -> None:
        self.event(StatusEvent(message=message))

    def progress(self, **fields: Any) -> None:
        """Heartbeat plus any of progress, epoch, epochs, compute_s, metrics, model_id."""
        self.store.update_progress(self.task_id, **fields)

    def stop_requested(self) -> bool:
        return self.store.stop_requested(self.task_id)

    def events(self, kind: type[E]) -> list[E]:
        """This task's events of `kind` so far (a resumed run's plan, the fit's best epochs)."""
        return self.store.events(self.task_id, kind)

    def add_model(self, card: ModelCard) -> None:
        """List a registered model (its files are on disk already)."""
        self.store.add_model(card)


class QuietSink(TaskSink):
    """The sink of a data-parallel fit's other ranks: rank 0 reports, reads the stop flag and the task's
    events for all of them (they have no store)."""

    def __init__(self, task_id: int):
        self.task_id = task_id

    def event(self, event: Event) -> None:
        pass

    def progress(self, **fields: Any) -> None:
        pass

    def stop_requested(self) -> bool:
        return False

    def events(self, kind: type[E]) -> list[E]:
        return []

    def add_model(self, card: ModelCard) -> None:
        pass
