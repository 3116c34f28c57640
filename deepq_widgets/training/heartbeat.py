"""The worker's heartbeat and its answer to SIGTERM, the same for one slot, several, and Ray."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

from ..store import Store
from ..workspace import WorkspacePaths

BEAT_S = 2.0  # how often the worker and its running tasks say they are alive (the reaper waits longer)


def watch(workspace: WorkspacePaths, store: Store, pid: int, tasks: Callable[[], list[int]]) -> threading.Event:
    """Heartbeat the worker and the `tasks()` it runs from a thread, even while data is decoded; SIGTERM asks
    each task to stop (it ends cleanly as Stopped). The event returned is set by SIGTERM and ends the beats."""
    done = threading.Event()

    def beat() -> None:
        beats = Store(workspace.db_path)
        while not done.wait(BEAT_S):
            beats.worker_beat(pid)
            for task_id in tasks():
                beats.touch(task_id)

    def on_term(signum: int, frame: object) -> None:
        for task_id in tasks():
            store.request_stop(task_id)
        done.set()

    signal.signal(signal.SIGTERM, on_term)
    store.worker_beat(pid)
    threading.Thread(target=beat, daemon=True).start()
    return done
