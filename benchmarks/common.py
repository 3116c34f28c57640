"""Shared helpers: a timer, a demo workspace, and result files."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).resolve().parent / "results"


def timeit(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Median seconds of `repeat` calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def demo_workspace(path: str | Path = "/tmp/deepq-bench-ws"):
    from deepq_widgets.data.demo import create_demo
    from deepq_widgets.workspace import WorkspacePaths

    ws = WorkspacePaths(path)
    create_demo(ws)
    return ws


def save(name: str, result: dict) -> dict:
    RESULTS.mkdir(exist_ok=True)
    result = {"date": time.strftime("%Y-%m-%d"), **result}
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps(result, indent=2, default=float))
    return result


def threads(n: int = 2) -> None:
    import torch

    torch.set_num_threads(n)
