"""One task in a process of its own: what a worker with several slots starts for each task it claims.

    python -I -m deepq_widgets.training.task_process --workspace DIR --task ID --threads N --parent PID

The worker claimed the task and handed it over (the task's `worker_pid` is this process), so a
killed task process is reaped alone, as a killed worker is; and it dies with the worker (a worker
killed mid-task leaves no task training on unwatched, its stop flag unread). Its torch thread count
is its slot's share of the cores, so that tasks running side by side never oversubscribe them.
"""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deepq task process", description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--task", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True, help="the worker: this process ends when it does")
    args = parser.parse_args(argv)
    from ..children import die_with

    die_with(args.parent)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    from ..store import Store
    from ..workspace import WorkspacePaths
    from .runner import run_task

    workspace = WorkspacePaths(args.workspace)
    store = Store(workspace.db_path)
    state = run_task(workspace, store, store.task(args.task))
    print(f"task {args.task}: {state}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
