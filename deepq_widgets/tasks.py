"""Submitting, stopping and resuming tasks, and keeping one worker process alive.

Pure (no torch, no fastai): the widgets and the CLI both use it. Training itself runs in
`python -m deepq_widgets.training.worker`, started detached so that closing the browser or
restarting the kernel does not stop it. One worker per workspace, held by a file lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .files import lock_held
from .liveness import interrupted
from .spec import TaskSpec
from .store import ERROR, RUNNING, STOPPED, Store, StoreError
from .submission import check_submission
from .workspace import WorkspacePaths

LOCK_NAME = ".worker.lock"
FAILURE_NAME = "worker.failed"  # in tasks/: why the last worker could not start
RETRY_S = 60.0  # a worker that failed to start is tried again after this long, not in a loop


class WorkerFailed(RuntimeError):
    """The worker could not start; the message says why (its error) and when it is tried again."""


def submit(workspace: WorkspacePaths, spec: TaskSpec, start_worker: bool = True) -> int:
    """Check the task against the workspace (SpecError naming each problem), queue it (Waiting) and
    make sure a worker will pick it up."""
    check_submission(workspace, spec)
    store = Store(workspace.db_path)
    task_id = store.submit(spec)
    set_aside_stale_folder(workspace, task_id)
    (workspace.task_dir(task_id) / "task.json").write_text(spec.to_json())
    if start_worker:
        ensure_worker(workspace)
    return task_id


def set_aside_stale_folder(workspace: WorkspacePaths, task_id: int) -> Path | None:
    """A new task never inherits the folder of an earlier task with its id (left by a database that was
    reset): that folder is renamed `<id>.stale-<time>`, so no checkpoint of another task is resumed."""
    folder = workspace.tasks / str(task_id)
    if not folder.is_dir() or not any(folder.iterdir()):
        return None
    aside = folder.with_name(f"{task_id}.stale-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6}")
    folder.rename(aside)
    return aside


def worker_alive(workspace: WorkspacePaths) -> bool:
    """True when some process holds the workspace's worker lock."""
    return lock_held(workspace.root / LOCK_NAME)


def ensure_worker(workspace: WorkspacePaths) -> bool:
    """Start a detached worker unless one is alive; returns True when one was started.

    Raises WorkerFailed while the last worker's failure to start is recent. The worker runs
    isolated (`python -I`: neither the working directory nor PYTHON* variables reach its
    imports), so a `torch.py` in the workspace is never run as code."""
    if worker_alive(workspace):
        return False
    failure = worker_failure(workspace)
    if failure is not None:
        raise WorkerFailed(f"the worker cannot start: {failure} (tasks/worker.log has more; tried again within {RETRY_S:.0f} s)")
    log = open(workspace.tasks / "worker.log", "ab")  # noqa: SIM115 - handed to the child process
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    subprocess.Popen(
        [sys.executable, "-I", "-m", "deepq_widgets.training.worker", "--workspace", str(workspace.root)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
        cwd=workspace.root,
    )
    log.close()
    return True


def record_worker_failure(workspace: WorkspacePaths, error: str) -> None:
    """What stopped a worker from starting, for `ensure_worker` and the dashboard to report."""
    (workspace.tasks / FAILURE_NAME).write_text(json.dumps({"error": error, "at": time.time()}))


def clear_worker_failure(workspace: WorkspacePaths) -> None:
    (workspace.tasks / FAILURE_NAME).unlink(missing_ok=True)


def worker_failure(workspace: WorkspacePaths, now: float | None = None) -> str | None:
    """The error of a worker that failed to start less than RETRY_S ago, else None."""
    try:
        found = json.loads((workspace.tasks / FAILURE_NAME).read_text())
    except (OSError, ValueError):
        return None
    return found["error"] if (now or time.time()) - found["at"] < RETRY_S else None


def reap_interrupted(store: Store, now: float | None = None) -> list[int]:
    """Mark running tasks whose process died (killed, machine restart, node lost) as Error, resumable.

    From any host: a task is interrupted when its heartbeat lease ran out, or when it ran on this host and
    its process is gone (liveness.py); a pid of another host is never looked up here. The update only
    applies to a task still running under the same pid and host, so a task that finishes meanwhile is
    never turned into an error.
    """
    now = now or time.time()
    reaped = []
    for task in store.tasks((RUNNING,)):
        message = (
            f"the worker stopped unexpectedly during epoch {task.epoch + 1}; `deepq resume {task.id}` continues from the last checkpoint"
        )
        if interrupted(task.worker_host, task.worker_pid, task.heartbeat, now) and store.fail_if_running(task, message):
            reaped.append(task.id)
    return reaped


def stop(workspace: WorkspacePaths, task_id: int) -> None:
    Store(workspace.db_path).request_stop(task_id)


def resume(workspace: WorkspacePaths, task_id: int, start_worker: bool = True) -> None:
    """Queue an interrupted, failed or stopped task again; it continues from its last checkpoint."""
    store = Store(workspace.db_path)
    reap_interrupted(store)
    task = store.task(task_id)
    if task.state not in (ERROR, STOPPED):
        raise StoreError(f"task {task_id} is {task.state}; only Error or Stopped tasks can be resumed")
    store.requeue(task_id)
    if start_worker:
        ensure_worker(workspace)


def rerun_with_corrections(workspace: WorkspacePaths, task_id: int, start_worker: bool = True) -> int:
    """Queue the task again as it ran (its task file as run: the same recipe and seed), on the labels a reviewer
    chose in its dataset's label_corrections.csv, named '<name> corrected' (numbered when taken)."""
    from .contracts import ran_as

    store = Store(workspace.db_path)
    task = store.task(task_id)
    taken, name = store.task_names(), f"{task.name} corrected"
    name = next((n for n in [name, *(f"{name} {k}" for k in range(2, 100))] if n not in taken), f"{name} {int(time.time())}")
    spec = ran_as(task.spec, store.events(task_id)).model_copy(update={"name": name, "label_corrections": True})
    return submit(workspace, TaskSpec.model_validate(spec.model_dump()), start_worker)
