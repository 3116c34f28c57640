"""The worker process: claims queued tasks and runs them, one per slot.

    python -m deepq_widgets.training.worker --workspace DIR [--slots N]   (or `deepq worker`)

This is also what a cluster scheduler would run. It holds the workspace's worker lock (so
there is one per workspace), heartbeats from a thread even while data is being decoded,
sets torch's thread count from the cores it is given (oversubscription made training here
10-17x slower), and exits after being idle for a while. With one slot (the default on a CPU)
it runs each task itself; with several, each claimed task runs in a process of its own
(`task_process.py`) with its slot's share of the cores, or its own GPU: one task per device.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import subprocess
import sys
import time

from ..devices import gpu_devices
from ..duration import worker_threads
from ..store import Store
from ..tasks import LOCK_NAME, clear_worker_failure, reap_interrupted, record_worker_failure
from ..workspace import WorkspacePaths
from .heartbeat import watch

SLOTS_ENV = "DEEPQ_WORKER_SLOTS"
RAY_ENV = "DEEPQ_RAY_ADDRESS"


def serve(
    workspace: WorkspacePaths, idle_exit: float = 60.0, threads: int | None = None, slots: int | None = None, ray_address: str | None = None
) -> int:
    """Run queued tasks until the queue has been empty for `idle_exit` seconds; returns tasks run. With a Ray
    address (or $DEEPQ_RAY_ADDRESS) each task runs as a Ray task on the cluster instead (ray_tasks.py)."""
    lock = open(workspace.root / LOCK_NAME, "a")  # noqa: SIM115 - held for the life of the worker
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("another worker holds this workspace; exiting", flush=True)
        return 0
    ray_address = ray_address or os.environ.get(RAY_ENV, "").strip()
    if ray_address:
        try:
            return serve_on_ray(workspace, ray_address, threads or worker_threads(), idle_exit)
        finally:
            lock.close()
    slots = slots or worker_slots()
    if slots > 1:
        try:
            return serve_slots(workspace, idle_exit, slots, threads or max(1, worker_threads() // slots))
        finally:
            lock.close()

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
    reap_interrupted(store)
    done = watch(workspace, store, pid, lambda: [current["task"]] if current["task"] is not None else [])
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


def serve_on_ray(workspace: WorkspacePaths, address: str, threads: int, idle_exit: float) -> int:
    # Token authentication (README, "Securing a cluster"), unless set otherwise: Ray reads it when it is imported
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    try:
        from .ray_tasks import serve_ray
    except ImportError as exc:  # reported by ensure_worker and the dashboard, not restarted every second
        record_worker_failure(workspace, f"Ray is not installed ({exc}): pip install 'deepq_widgets[ray]'")
        raise
    clear_worker_failure(workspace)
    return serve_ray(workspace, address, threads, idle_exit)


def worker_slots() -> int:
    """$DEEPQ_WORKER_SLOTS, else one per GPU, else one."""
    given = os.environ.get(SLOTS_ENV, "").strip()
    if given:
        if not given.isdigit() or int(given) < 1:
            raise ValueError(f"{SLOTS_ENV} must be a whole number of slots, 1 or more (got {given!r})")
        return int(given)
    return max(1, len(gpu_devices()))


def serve_slots(workspace: WorkspacePaths, idle_exit: float, slots: int, threads: int) -> int:
    """Claim up to `slots` tasks at once, each run by a task process with `threads` torch threads (or its own GPU)."""
    store, pid, gpus = Store(workspace.db_path), os.getpid(), gpu_devices()
    running: dict[int, tuple[subprocess.Popen, int]] = {}  # task -> (its process, its slot)
    reap_interrupted(store)
    clear_worker_failure(workspace)
    done = watch(workspace, store, pid, lambda: list(running))  # on SIGTERM the loop waits for them to stop
    ran, idle_since = 0, time.monotonic()
    try:
        while running or not done.is_set():
            for task_id, (child, _) in list(running.items()):
                if child.poll() is not None:
                    del running[task_id]
                    ran, idle_since = ran + 1, time.monotonic()
                    reap_interrupted(store)  # a task process that died mid-task: Error, resumable
            free = [s for s in range(slots) if s not in {slot for _, slot in running.values()}]
            task = store.claim_next(pid) if free and not done.is_set() else None
            if task is not None:
                running[task.id] = (
                    start_task_process(workspace, task.id, threads, gpus[free[0]] if free[0] < len(gpus) else None),
                    free[0],
                )
                store.hand_over(task.id, running[task.id][0].pid)
                print(f"[{time.strftime('%H:%M:%S')}] task {task.id} {task.name!r}: running in slot {free[0]}", flush=True)
                continue
            if not running and time.monotonic() - idle_since > idle_exit:
                break
            time.sleep(0.5)
    finally:
        done.set()
        store.worker_gone(pid)
    return ran


def start_task_process(workspace: WorkspacePaths, task_id: int, threads: int, gpu: str | None) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), "DEEPQ_THREADS": str(threads)}
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    argv = ["--workspace", str(workspace.root), "--task", str(task_id), "--threads", str(threads), "--parent", str(os.getpid())]
    return subprocess.Popen([sys.executable, "-I", "-m", "deepq_widgets.training.task_process", *argv], env=env, cwd=workspace.root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deepq worker", description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", default=os.environ.get("DEEPQ_WORKSPACE", "workspace"))
    parser.add_argument("--idle-exit", type=float, default=float(os.environ.get("DEEPQ_WORKER_IDLE", 60)))
    parser.add_argument("--threads", type=int, default=None, help="torch threads per task (default: the cores, shared by the slots)")
    parser.add_argument("--slots", type=int, default=None, help="tasks at once (default: $DEEPQ_WORKER_SLOTS, else one per GPU, else 1)")
    parser.add_argument(
        "--ray", metavar="ADDRESS", default=None, help=f"run tasks on this Ray cluster ('local': start one here; ${RAY_ENV})"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    serve(WorkspacePaths(args.workspace), args.idle_exit, args.threads, args.slots, args.ray)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
