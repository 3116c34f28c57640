"""The worker process: claims queued tasks and runs them one at a time.

    python -m deepq_widgets.training.worker --workspace DIR   (or `deepq worker`)

This is also what a cluster scheduler would run. It holds the workspace's worker lock (so
there is one per workspace), heartbeats from a thread even while data is being decoded,
sets torch's thread count from the cores it is given (oversubscription made training here
10-17x slower), and exits after being idle for a while.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import threading
import time

from ..duration import worker_threads
from ..store import Store
from ..tasks import LOCK_NAME, clear_worker_failure, reap_interrupted, record_worker_failure
from ..workspace import Workspace

BEAT_S = 2.0


def serve(workspace: Workspace, idle_exit: float = 60.0, threads: int | None = None) -> int:
    """Run queued tasks until the queue has been empty for `idle_exit` seconds; returns tasks run."""
    lock = open(workspace.root / LOCK_NAME, "a")  # noqa: SIM115 - held for the life of the worker
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("another worker holds this workspace; exiting", flush=True)
        return 0

    try:
        import torch

        torch.set_num_threads(threads or worker_threads())
        from .runner import run_task  # fastai loads here, after the lock
    except Exception as exc:  # reported by ensure_worker and the dashboard, not restarted every second
        record_worker_failure(workspace, f"{type(exc).__name__}: {exc}")
        raise
    clear_worker_failure(workspace)

    store, pid = Store(workspace.db_path), os.getpid()
    current: dict[str, int | None] = {"task": None}
    done = threading.Event()
    reap_interrupted(store)

    def beat() -> None:
        beats = Store(workspace.db_path)
        while not done.wait(BEAT_S):
            beats.worker_beat(pid)
            if current["task"] is not None:
                beats.touch(current["task"])

    def on_term(signum: int, frame: object) -> None:
        if current["task"] is not None:
            store.request_stop(current["task"])  # ends the fit cleanly as Stopped
        done.set()

    signal.signal(signal.SIGTERM, on_term)
    store.worker_beat(pid)
    threading.Thread(target=beat, daemon=True).start()
    ran, idle_since = 0, time.monotonic()
    try:
        while not done.is_set():
            task = store.claim_next(pid)
            if task is None:
                if time.monotonic() - idle_since > idle_exit:
                    break
                time.sleep(0.5)
                continue
            current["task"] = task.id
            print(f"[{time.strftime('%H:%M:%S')}] task {task.id} {task.name!r}: running", flush=True)
            state = run_task(workspace, store, task)
            print(f"[{time.strftime('%H:%M:%S')}] task {task.id}: {state}", flush=True)
            current["task"], ran, idle_since = None, ran + 1, time.monotonic()
    finally:
        done.set()
        store.worker_gone(pid)
        lock.close()
    return ran


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deepq worker", description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", default=os.environ.get("DEEPQ_WORKSPACE", "workspace"))
    parser.add_argument("--idle-exit", type=float, default=float(os.environ.get("DEEPQ_WORKER_IDLE", 60)))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    serve(Workspace(args.workspace), args.idle_exit, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
