"""Issue 12, side by side in one run on this machine: `.venv/bin/python -m benchmarks scale_out`.

- An 8-trial random search: in-process (trials one after the other, 2 threads) against Ray Tune with
  2 trials at once of 1 thread each; the search's wall time (from its first status line to the
  plan) and the task's; plus the fixed cost of starting Ray.
- Two tasks queued: one slot of 2 threads against two slots of 1 thread each (the worker's slots).
Each run goes through `deepq worker` as a user's would, on a copy of the demo workspace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .common import demo_workspace, save

ROOT = Path("/tmp/deepq-bench-scale-out")
TINY = {"image_size": 64, "epochs": 8, "batch_size": 16}
SEARCH_SIZES = (64, 160)  # trials of ~1.5 s (start-up dominates) and of ~10 s (the training does)


def fresh_workspace(name: str):
    from deepq_widgets.workspace import WorkspacePaths

    base = demo_workspace(ROOT / "base")
    root = ROOT / name
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(base.root, root, ignore=shutil.ignore_patterns("tasks", "models", "*.db*"))
    return WorkspacePaths(root)


def spec(ws, name: str, search: str | None = None, size: int = TINY["image_size"]):
    from deepq_widgets.choices import build_spec

    task, _ = build_spec(
        ws, "general", task="single_label", dataset="ultrasound_lesions", model="tf_efficientnet_lite0.in1k", name=name,
        image_size=size, epochs=TINY["epochs"], search=search, trials=8,
    )  # fmt: skip
    hyper = task.hyper.model_copy(update={"batch_size": TINY["batch_size"], "early_stop": False})
    return task.model_copy(update={"hyper": hyper})


def work(ws, specs: list, *worker_args: str, env: dict | None = None) -> tuple[float, list]:
    """Queue `specs`, run one worker to the end; (wall seconds, the task rows)."""
    from deepq_widgets.store import Store
    from deepq_widgets.tasks import submit

    ids = [submit(ws, s, start_worker=False) for s in specs]
    start = time.perf_counter()
    argv = [sys.executable, "-m", "deepq_widgets.cli", "worker", "--workspace", str(ws.root), "--idle-exit", "1", *worker_args]
    subprocess.run(argv, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}, capture_output=True)
    wall = time.perf_counter() - start
    store = Store(ws.db_path)
    rows = [store.task(i) for i in ids]
    assert all(r.state == "finished" for r in rows), [r.error for r in rows]
    return wall, rows


def search_seconds(ws, task_id: int) -> float:
    """From the search's first status line to the plan it chose."""
    from deepq_widgets.contracts import PlanEvent, StatusEvent
    from deepq_widgets.store import Store

    store = Store(ws.db_path)
    began = next(e.time for e in store.events(task_id, StatusEvent) if e.message.startswith("Hyperparameter search"))
    return store.events(task_id, PlanEvent)[0].time - began


def ray_start_seconds() -> float:
    code = "import time; t = time.perf_counter(); import ray; ray.init(num_cpus=2, include_dashboard=False); print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()[-1])


def main() -> dict:
    result: dict = {"ray_start_s": ray_start_seconds()}
    for size in SEARCH_SIZES:
        ws = fresh_workspace("search-in-process")
        wall, rows = work(ws, [spec(ws, "in process", "random", size)], "--threads", "2", env={"DEEPQ_WORKER_SLOTS": "1"})
        alone = {"task_s": wall, "search_s": search_seconds(ws, rows[0].id)}
        ws = fresh_workspace("search-ray")
        wall, rows = work(ws, [spec(ws, "on ray", "random", size)], "--ray", "local", "--threads", "1")
        on_ray = {"task_s": wall, "search_s": search_seconds(ws, rows[0].id)}
        result[f"search_{size}px"] = {"in_process": alone, "ray_2x1": on_ray, "speedup": alone["search_s"] / on_ray["search_s"]}
    ws = fresh_workspace("one-slot")
    result["two_tasks_one_slot_s"] = work(ws, [spec(ws, "a"), spec(ws, "b")], "--slots", "1", "--threads", "2")[0]
    ws = fresh_workspace("two-slots")
    result["two_tasks_two_slots_s"] = work(ws, [spec(ws, "a"), spec(ws, "b")], "--slots", "2", "--threads", "1")[0]
    result["slots_speedup"] = result["two_tasks_one_slot_s"] / result["two_tasks_two_slots_s"]
    print(result, flush=True)
    return save("scale_out", result)
