"""How long a plan will take here: measured throughput (kept in the workspace) times the plan's work.

The throughput is measured by a few timed training steps (training/throughput.py, run by
`deepq throughput` or `deepq spec --estimate`) and kept per network, image size, channels,
batch, device and thread count; this module only reads it, so the wizard stays free of torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from .autoplan import Fingerprint, Plan
from .devices import has_gpu
from .files import atomic_write_text
from .workspace import WorkspacePaths

FILE = "throughput.json"
STARTUP_S = 6.0  # worker start, network build, final evaluation (benchmarks/README.md, the trust benchmark)


@dataclass(frozen=True)
class Throughput:
    train: float  # images per second through a training step
    evaluate: float  # images per second through an evaluation pass


def worker_threads() -> int:
    """The torch threads a worker uses: DEEPQ_THREADS, else every core this process may use."""
    given = os.environ.get("DEEPQ_THREADS", "").strip()
    if not given:
        return len(os.sched_getaffinity(0))
    if not given.isdigit() or int(given) < 1:
        raise ValueError(f"DEEPQ_THREADS must be a whole number of threads, 1 or more (got {given!r})")
    return int(given)


def throughput_key(arch: str, size: int, channels: int, batch: int, device: str | None = None, threads: int | None = None) -> str:
    device = device or ("cuda" if has_gpu() else "cpu")
    return f"{arch}|{size}px|{channels}ch|batch{batch}|{device}|{threads or worker_threads()}threads"


def read_throughput(workspace: WorkspacePaths, key: str) -> Throughput | None:
    path = workspace.root / FILE
    known = json.loads(path.read_text()) if path.is_file() else {}
    return Throughput(**known[key]) if key in known else None


def write_throughput(workspace: WorkspacePaths, key: str, throughput: Throughput) -> None:
    path = workspace.root / FILE
    known = json.loads(path.read_text()) if path.is_file() else {}
    known[key] = asdict(throughput)
    atomic_write_text(json.dumps(known, indent=1), path)


def estimate_seconds(plan: Plan, fingerprint: Fingerprint, valid_pct: int, throughput: Throughput) -> float:
    """The longest the run takes: every planned epoch (early stopping may end it sooner), the refit or the
    other members of a k-fold ensemble, the start."""
    n_train = fingerprint.train_cases(round(100 / plan.hyper.folds) if plan.hyper.folds > 1 else valid_pct)
    n_valid = fingerprint.cases - n_train
    epoch = n_train / throughput.train + n_valid / throughput.evaluate
    refit = plan.hyper.epochs * fingerprint.cases / throughput.train if plan.hyper.refit else 0.0
    members = (plan.hyper.folds - 1) * (plan.hyper.epochs * n_train / throughput.train + n_valid / throughput.evaluate)
    return STARTUP_S + plan.hyper.epochs * epoch + refit + members


def describe_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"about {seconds:.0f} s"
    return f"about {seconds / 60:.0f} min" if seconds < 5400 else f"about {seconds / 3600:.1f} h"
