"""Where a run reports: its task's channel to the store. The stages and callbacks know nothing else,
so a run can happen where the store is not (a Ray node, `ray_tasks.py`; another rank) behind another sink."""

from __future__ import annotations

from typing import Protocol, TypeVar

from ..contracts import Event, ModelCard, Progress, StatusEvent
from ..store import Store

E = TypeVar("E", bound=Event)


class TaskSink(Protocol):
    """One task's reports: typed events, progress, the stop flag, its own events read back and its registered
    model. A StoreSink writes them to the store, a MailboxSink sends them from a Ray node, a QuietSink drops them."""

    task_id: int

    def event(self, event: Event) -> None: ...

    def progress(self, progress: Progress) -> None:
        """How far the task is (also a heartbeat)."""

    def stop_requested(self) -> bool: ...

    def events(self, kind: type[E]) -> list[E]:
        """This task's events of `kind` so far (a resumed run's plan, the fit's best epochs)."""

    def add_model(self, card: ModelCard) -> None:
        """List a registered model (its files are on disk already)."""

    def status(self, message: str) -> None:
        self.event(StatusEvent(message=message))


class StoreSink(TaskSink):
    """Reports straight into the workspace's store: the worker's own processes."""

    def __init__(self, store: Store, task_id: int):
        self.store, self.task_id = store, task_id

    def event(self, event: Event) -> None:
        self.store.add_event(self.task_id, event)

    def progress(self, progress: Progress) -> None:
        self.store.update_progress(self.task_id, progress)

    def stop_requested(self) -> bool:
        return self.store.stop_requested(self.task_id)

    def events(self, kind: type[E]) -> list[E]:
        return self.store.events(self.task_id, kind)

    def add_model(self, card: ModelCard) -> None:
        self.store.add_model(card)


class QuietSink(TaskSink):
    """The sink of a data-parallel fit's other ranks and of Tune's trials: rank 0 (or the search) reports,
    reads the stop flag and the task's events for all of them (they have no store)."""

    def __init__(self, task_id: int):
        self.task_id = task_id

    def event(self, event: Event) -> None:
        pass

    def progress(self, progress: Progress) -> None:
        pass

    def stop_requested(self) -> bool:
        return False

    def events(self, kind: type[E]) -> list[E]:
        return []

    def add_model(self, card: ModelCard) -> None:
        pass
