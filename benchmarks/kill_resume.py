"""Issue 11's goal: `kill -9` of the worker mid-epoch, then `deepq resume`, ten times.

Each round submits a 6-epoch task on a copy of the demo workspace, waits until two epochs are
stored, kills the worker with SIGKILL at a random moment of the next epoch, resumes, and checks:
the task finishes with a registered model, at most the epoch in progress is lost (the store
never said more epochs were done than the checkpoint held), and no temporary file is left.
`.venv/bin/python -m benchmarks kill_resume`.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from pathlib import Path

from .common import demo_workspace, save

ROUNDS, EPOCHS = 10, 6


def wait_for(predicate, timeout: float = 300.0):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError("condition not reached")


def one_round(ws, n: int, rng: random.Random) -> dict:
    import json

    from deepq_widgets.contracts import EpochEvent
    from deepq_widgets.spec import TaskSpec
    from deepq_widgets.store import ERROR, FINISHED, Store
    from deepq_widgets.tasks import reap_interrupted, resume, submit, worker_alive

    spec = TaskSpec.model_validate(
        {
            "name": f"killed {n}",
            "task": "single_label",
            "dataset": "ultrasound_lesions",
            "tuning": "manual",
            "model": {"arch": "tf_efficientnet_lite0.in1k"},
            "image_size": 64,
            "hyper": {"epochs": EPOCHS, "batch_size": 16, "early_stop": False},
        }
    )
    store = Store(ws.db_path)
    task_id = submit(ws, spec)
    wait_for(lambda: len(store.events(task_id, EpochEvent)) >= 2)
    time.sleep(rng.uniform(0.0, 1.5))  # somewhere in the next epoch, or while its checkpoint is written
    shown = store.task(task_id).epoch
    os.kill(store.task(task_id).worker_pid, signal.SIGKILL)
    wait_for(lambda: not worker_alive(ws), timeout=30)
    reap_interrupted(store)
    checkpoint = ws.task_dir(task_id) / "checkpoint" / "checkpoint.json"
    on_disk = json.loads(checkpoint.read_text())["epoch"] + 1 if checkpoint.is_file() else 0
    resume(ws, task_id)
    wait_for(lambda: store.task(task_id).state in (FINISHED, ERROR))
    row = store.task(task_id)
    leftovers = [str(p) for p in ws.task_dir(task_id).rglob("*") if ".tmp" in p.name or p.name.endswith(".previous")]
    return {
        "finished": row.state == FINISHED and bool(row.model_id),
        "epochs_shown_at_kill": shown,
        "epochs_in_checkpoint": on_disk,
        "store_ahead_of_checkpoint": shown > on_disk,
        "leftover_temporary_files": leftovers,
        "error": row.error,
    }


def main() -> dict:
    os.environ.setdefault("DEEPQ_THREADS", "2")
    os.environ.setdefault("DEEPQ_WORKER_IDLE", "3")
    root = Path("/tmp/deepq-bench-kill")
    shutil.rmtree(root, ignore_errors=True)
    ws = demo_workspace(root)
    rng = random.Random(0)
    rounds = [one_round(ws, n, rng) for n in range(ROUNDS)]
    return save(
        "kill_resume",
        {
            "rounds": ROUNDS,
            "finished": sum(r["finished"] for r in rounds),
            "store_ahead_of_checkpoint": sum(r["store_ahead_of_checkpoint"] for r in rounds),
            "leftover_temporary_files": sum(len(r["leftover_temporary_files"]) for r in rounds),
            "details": rounds,
        },
    )
