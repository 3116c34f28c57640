"""Run one task from its TaskSpec, in stages: prepare data -> plan -> build learner -> fit -> evaluate and register.

Called by the worker process, never by the notebook kernel. Every outcome lands in the store:
Finished (with a registered model), Stopped, or Error with the message and traceback. Resume
continues from the last epoch checkpoint with the optimizer state. A task on several devices
trains its fit and refit together with its other ranks (distributed.py, rank.py); this process,
rank 0, does everything else.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass

from ..store import ERROR, FINISHED, STOPPED, Store, TaskRow
from ..workspace import WorkspacePaths
from .pipeline import Stage, run_until
from .run_types import Run, TaskCannotRun, TaskStopped
from .sink import StoreSink, TaskSink

Stages = Callable[[WorkspacePaths, TaskSink, TaskRow], None]


@dataclass(frozen=True)
class Outcome:
    """How a run ended: what the store records as the task's state (plain values: it crosses processes)."""

    state: str
    error: str | None = None
    traceback: str | None = None


def run_task(workspace: WorkspacePaths, store: Store, task: TaskRow) -> str:
    """Run `task` here to its end and record the outcome; returns the final state."""
    outcome = run_reported(workspace, StoreSink(store, task.id), task)
    store.set_state(task.id, outcome.state, error=outcome.error, traceback=outcome.traceback)
    return outcome.state


def run_reported(workspace: WorkspacePaths, sink: TaskSink, task: TaskRow, stages: Stages | None = None) -> Outcome:
    """Run `task` (or only `stages` of it), reporting through `sink`; every ending is an Outcome, none an exception."""
    try:
        (stages or run_stages)(workspace, sink, task)
    except TaskStopped:
        return Outcome(STOPPED)
    except TaskCannotRun as exc:
        return Outcome(ERROR, str(exc), traceback.format_exc())
    except Exception as exc:  # any failure must reach the user with its traceback
        return Outcome(ERROR, f"{type(exc).__name__}: {exc}", traceback.format_exc())
    return Outcome(FINISHED)


def search_stages(workspace: WorkspacePaths, sink: TaskSink, task: TaskRow) -> None:
    """Only the search (its plan kept in the task's folder): on Ray it runs apart from the training, so that
    its trials, not the task, hold the cluster's resources meanwhile."""
    run_until(Run.start(workspace, sink, task), Stage.plan)


def run_stages(workspace: WorkspacePaths, sink: TaskSink, task: TaskRow) -> None:
    run_until(Run.start(workspace, sink, task))
