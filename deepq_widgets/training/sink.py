"""Where a run reports: the store, for one task. The stages and callbacks know nothing else."""

from __future__ import annotations

from typing import Any

from ..contracts import Event, StatusEvent
from ..store import Store


class TaskSink:
    """Typed events, progress and the stop flag of one task."""

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


class QuietSink(TaskSink):
    """The sink of a data-parallel fit's other ranks: rank 0 reports and reads the stop flag for all of them."""

    def event(self, event: Event) -> None:
        pass

    def progress(self, **fields: Any) -> None:
        pass

    def stop_requested(self) -> bool:
        return False
