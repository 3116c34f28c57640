"""How long a plan will take here: measured throughput (kept in the workspace) times the plan's work.

The throughput is measured by a few timed training steps (training/throughput.py, run by
`deepq throughput` or `deepq spec --estimate`) and kept per network, image size, channels,
batch, device and thread count; this module only reads it, so the wizard stays free of torch.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from .autoplan import Fingerprint, Plan
from .devices import has_gpu
from .files import atomic_write_text
from .workspace import WorkspacePaths

FILE = "throughput.json"
STARTUP_S = 6.0  # worker start, network build, final evaluation (benchmarks/README.md, the trust benchmark)


# Images a second through a training step at 128 px, batch 32, on a 2-core x86 CPU (benchmarks/README.md, "Training
# speed"): the rough speed of a machine not measured yet, scaled by pixels, threads and, for other networks, GFLOPs.
REFERENCE_CPU = {"tf_efficientnet_lite0.in1k": 37.0, "resnet18.a1_in1k": 24.7, "mobilenetv3_large_100.ra_in1k": 84.9}
REFERENCE_SIZE, REFERENCE_THREADS = 128, 2
EVALUATE_OVER_TRAIN = 3.0  # an evaluation pass (forward only) against a training step (forward, backward, update)


@dataclass(frozen=True)
class Throughput:
    train: float  # images per second through a training step
    evaluate: float  # images per second through an evaluation pass
    basis: str = "measured on this machine"  # how it is known
    spread: float = 1.0  # the true speed is likely within this factor either side (1: measured)

    @property
    def measured(self) -> bool:
        return self.spread == 1.0


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
    """The speed measured for exactly this key, or None."""
    known = _stored(workspace)
    return Throughput(**known[key]) if key in known else None


def likely_throughput(workspace: WorkspacePaths, key: str) -> Throughput | None:
    """The speed of this key as well as it is known before any measurement of it: measured; else scaled by pixels
    from the same network measured here at another size; else, on a CPU, from a reference 2-core CPU (wide)."""
    found = read_throughput(workspace, key)
    if found is not None:
        return found
    arch, size, _, _, device, threads = _parse(key)
    here = []  # (size, speed) of this network measured here, on this device with as many threads
    for stored_key, speed in _stored(workspace).items():
        other_arch, other_size, _, _, other_device, other_threads = _parse(stored_key)
        if (other_arch, other_device, other_threads) == (arch, device, threads):
            here.append((other_size, Throughput(**speed)))
    if here:
        measured_size, speed = min(here, key=lambda pair: abs(pair[0] - size))
        scale = (measured_size / size) ** 2
        return Throughput(speed.train * scale, speed.evaluate * scale, f"scaled from its speed at {measured_size} px measured here", 1.5)
    if device != "cpu":
        return None  # no reference for accelerators: only a measurement says
    lite0 = "tf_efficientnet_lite0.in1k"
    base, spread = REFERENCE_CPU.get(arch), 2.0
    if base is None:
        ours, reference = _gflops(arch), _gflops(lite0)
        if not ours or not reference:
            return None
        base, spread = REFERENCE_CPU[lite0] * reference / ours, 3.0  # networks differ in how well they use a CPU: wider
    train = base * (REFERENCE_SIZE / size) ** 2 * threads / REFERENCE_THREADS
    return Throughput(train, train * EVALUATE_OVER_TRAIN, "rough: from a reference 2-core CPU, not this machine", spread)


def _stored(workspace: WorkspacePaths) -> dict:
    path = workspace.root / FILE
    return json.loads(path.read_text()) if path.is_file() else {}


KEY = re.compile(r"(?P<arch>[^|]+)\|(?P<size>\d+)px\|(?P<channels>\d+)ch\|batch(?P<batch>\d+)\|(?P<device>[^|]+)\|(?P<threads>\d+)threads")


def _parse(key: str) -> tuple[str, int, int, int, str, int]:
    """A throughput_key's parts: arch, size, channels, batch, device, threads."""
    part = KEY.fullmatch(key)
    if part is None:
        raise ValueError(f"not a throughput key: {key!r}")
    return part["arch"], int(part["size"]), int(part["channels"]), int(part["batch"]), part["device"], int(part["threads"])


def _gflops(arch: str) -> float | None:
    from .zoo.catalog import UnknownModel, get

    try:
        entry = get(arch)
    except UnknownModel:
        return None
    return entry.gflops / (entry.input_size / REFERENCE_SIZE) ** 2 if entry.gflops else None  # at the reference size


def write_throughput(workspace: WorkspacePaths, key: str, throughput: Throughput) -> None:
    known = _stored(workspace)
    known[key] = {"train": throughput.train, "evaluate": throughput.evaluate}
    atomic_write_text(json.dumps(known, indent=1), workspace.root / FILE)


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
