"""One task on several devices: data parallel across processes, the task's own process being rank 0.

Rank 0 prepares the data, plans (search, learning-rate finder) and builds the learner alone, as
with one device. For the fit and the refit it starts the other ranks (`rank.py`), which build the
same learner from the same cache and the plan rank 0 recorded. Then every rank takes its share of
each batch (`BatchLoader.shard`), with the augmentation drawn for the whole batch, and after each
backward pass the gradients are averaged, weighted by each share; BatchNorm normalises with the
statistics of the whole batch, summed across the ranks (as SyncBatchNorm does, on CPUs too): so
together the ranks take the step one process would take on the whole batch, to float rounding
(tests/training/test_data_parallel.py). Validation runs whole on every rank, and the epoch's
figures and the stop flag are rank 0's, so every rank early-stops or stops together. Only rank 0 writes: the store, the checkpoints,
the model. NCCL on GPUs (one per rank), gloo between CPU processes (what the tests use).

Written on torch.distributed directly rather than DDP or accelerate: the learner is fastai's with
our own loaders, and one flat all-reduce per step keeps the parameters' names, the checkpoints and
the optimizer state exactly those of a one-device run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from fastai.callback.core import Callback

from ..contracts import Contract, Plan
from ..files import atomic_write_text
from ..store import TaskRow

# A rank waits this long for the others at any one point (gloo's and NCCL's own default is 30 minutes).
COLLECTIVE_TIMEOUT = timedelta(minutes=30)
DEVICES_NOTE_STARTS = "Devices: "  # how the plan's note on them begins
READY_TIMEOUT_S = 600.0  # the other ranks open the cache and build their learner in this time, or the task fails
RANKS_FILE = "ranks.json"  # the task and the plan, for the other ranks


@dataclass(frozen=True)
class Group:
    """This process's place in a data-parallel fit."""

    rank: int
    world: int
    device: torch.device

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def leaders(self, values: list[float]) -> list[float]:
        """Rank 0's `values` on every rank."""
        t = torch.tensor(values, dtype=torch.float64, device=self.wire())
        dist.broadcast(t, 0)
        return t.tolist()

    def shared(self, ask: Callable[[], bool], every_s: float = 1.0) -> Callable[[], bool]:
        """A flag every rank reads at the same points, answered by rank 0's `ask` (asked at most once per `every_s`)."""
        state = {"at": 0.0, "value": False}

        def read() -> bool:
            if self.leader and time.perf_counter() - state["at"] >= every_s:
                state["at"], state["value"] = time.perf_counter(), bool(ask())
            return bool(self.leaders([float(state["value"])])[0])

        return read

    def wire(self) -> torch.device:
        """Where collectives' small tensors live: NCCL moves GPU tensors only."""
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")


_current: Group | None = None


def current() -> Group | None:
    """The group this process trains in now, or None (one device)."""
    return _current


class DataParallel(Callback):
    """Keeps the ranks' learners one: same start, averaged gradients, rank 0's statistics and figures."""

    order = 56  # after fastai's Recorder (50) and LossMeans (55) sum the epoch, before the trackers (60) read it

    def __init__(self, group: Group):
        self.group = group

    def before_fit(self) -> None:
        for tensor in [*self.learn.model.parameters(), *self.learn.model.buffers()]:
            dist.broadcast(tensor.data, 0)
        self.learn.dls.train.shard(self.group.rank, self.group.world)
        F.batch_norm = batch_norm_across_ranks

    def after_backward(self) -> None:
        params = [p for p in self.learn.model.parameters() if p.requires_grad]
        grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads]).mul_(self.learn.dls.train.share)
        dist.all_reduce(flat)
        offset = 0
        for p in params:
            chunk = flat[offset : offset + p.numel()].view_as(p)
            offset += p.numel()
            if p.grad is None:
                p.grad = chunk.clone()
            else:
                p.grad.copy_(chunk)

    def before_validate(self) -> None:
        for buffer in self.learn.model.buffers():  # equal already, to rounding; now to the bit
            dist.broadcast(buffer.data, 0)

    def after_epoch(self) -> None:
        means = getattr(self.learn, "loss_means", None)
        if means is not None:
            train = torch.tensor(means.sums["train"], dtype=torch.float64, device=self.group.wire())
            dist.all_reduce(train)  # the mean training loss over every rank's cases
            means.sums["train"] = train.tolist()
            means.sums["valid"] = self.group.leaders(means.sums["valid"])
        values = self.learn.recorder.values
        if values:
            values[-1] = self.group.leaders([float(v) for v in values[-1]])

    def after_fit(self) -> None:
        self.learn.dls.train.shard(0, 1)
        F.batch_norm = _local_batch_norm


_local_batch_norm = F.batch_norm


class _SumAcrossRanks(torch.autograd.Function):
    """A sum over the ranks that gradients flow through: each rank's part of the sum gets the gradient of every
    rank's use of it (what SyncBatchNorm does)."""

    @staticmethod
    def forward(ctx: object, t: torch.Tensor) -> torch.Tensor:
        out = t.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def batch_norm_across_ranks(
    x: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    training: bool = False,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    """`F.batch_norm` while ranks train together: in training, the mean and variance of the whole batch (every
    rank's share), through a differentiable all-reduce; in evaluation, torch's own. torch's BatchNorm layers
    and timm's BatchNormAct2d both call `F.batch_norm`, so no layer of any network needs replacing."""
    if not training or _current is None:  # evaluation, or a fit that failed before after_fit put torch's back
        return _local_batch_norm(x, running_mean, running_var, weight, bias, training, momentum or 0.0, eps)
    channels, dims = x.shape[1], [0, *range(2, x.dim())]
    shape = [1, channels] + [1] * (x.dim() - 2)
    values = x.float()
    count = torch.full((1,), values.numel() / channels, dtype=torch.float32, device=x.device)
    sums = _SumAcrossRanks.apply(torch.cat([values.sum(dims), count]))
    n = sums[-1]
    mean = sums[:channels] / n
    centred = values - mean.view(shape)
    var = _SumAcrossRanks.apply((centred * centred).sum(dims)) / n  # two passes: no E[x²] - E[x]² cancellation
    if running_mean is not None and running_var is not None:
        with torch.no_grad():
            m = 0.1 if momentum is None else momentum
            running_mean.mul_(1 - m).add_(mean.detach().to(running_mean.dtype), alpha=m)
            running_var.mul_(1 - m).add_((var.detach() * n / (n - 1).clamp_min(1)).to(running_var.dtype), alpha=m)
    y = centred * torch.rsqrt(var.view(shape) + eps)
    if weight is not None:
        y = y * weight.view(shape).float()
    if bias is not None:
        y = y + bias.view(shape).float()
    return y.to(x.dtype)


def join(rank: int, world: int, rendezvous: Path, device: torch.device, store: dist.Store | None = None) -> Group:
    """Enter the fit's process group (NCCL between GPUs, gloo between CPU processes), meeting the other ranks
    through the file `rendezvous` in a folder only this user can open: a TCP rendezvous listens on every
    interface, and any process that reached its port first could join as a rank (and receive the weights,
    and have its gradients summed in). The ranks' own connections stay on the loopback interface."""
    global _current
    backend = "nccl" if device.type == "cuda" else "gloo"
    for variable in ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME"):  # every rank is on this machine
        os.environ.setdefault(variable, loopback_interface())
    store = store or dist.FileStore(str(rendezvous), world)  # one per process: the last of `world` removes the file
    store.set(f"ready/{rank}", "1")
    dist.init_process_group(backend, store=store, rank=rank, world_size=world, timeout=COLLECTIVE_TIMEOUT)
    _current = Group(rank, world, device)
    return _current


def loopback_interface() -> str:
    """The name of this machine's loopback interface ("lo" on Linux, "lo0" on macOS)."""
    import socket

    names = [name for _, name in socket.if_nameindex() if name.startswith("lo")]
    return names[0] if names else "lo"


def private_rendezvous() -> Path:
    """A new folder that only this user can open (mode 0700), holding the path of the group's file store."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix="deepq-ranks-")) / "rendezvous"


@contextlib.contextmanager
def joined(rank: int, world: int, rendezvous: Path, device: torch.device) -> Iterator[Group]:
    """In rank 0's group for the fit and the final fits (another rank's side of `ranks`), left whatever happens."""
    try:
        yield join(rank, world, rendezvous, device)
    finally:
        leave()


def leave() -> None:
    global _current
    F.batch_norm = _local_batch_norm
    if dist.is_initialized():
        dist.destroy_process_group()
    _current = None


def devices_for(requested: int, device: torch.device, batch_size: int) -> tuple[int, str | None]:
    """How many ranks a fit asked to run on `requested` devices can have here, and the plan's note on it."""
    if device.type == "cuda":
        here, unit = torch.cuda.device_count(), "GPUs"
        why = "visible to this task; a worker with several slots gives each slot one GPU: `deepq worker --slots 1` gives a task all"
    else:
        here, unit = torch.get_num_threads(), "CPU processes"
        why = "one per thread this task is given"
    n = max(1, min(requested, here, batch_size))
    if n == 1:
        return 1, None if requested == 1 else f"{DEVICES_NOTE_STARTS}{requested} asked for; 1 used here ({here} {unit} {why})."
    backend = "NCCL" if device.type == "cuda" else "gloo"
    note = (
        f"{DEVICES_NOTE_STARTS}data parallel on {n} {unit} ({backend}): each takes its share of every batch of {batch_size}, gradients are "
        "averaged every step, and validation runs whole on each."
    )
    if n < requested:
        note += f" {requested} were asked for; {here} {unit} here ({why})."
    return n, note


class SharedWithRanks(Contract):
    """ranks.json: the task and the plan rank 0 trains, for the other ranks (they never open the store)."""

    task: TaskRow
    plan: Plan


@contextlib.contextmanager
def ranks(workspace_root: Path, task: TaskRow, folder: Path, plan: Plan, device: torch.device) -> Iterator[Group | None]:
    """Rank 0's side: start ranks 1..N-1 for this task, wait until they are ready, and train as one group
    inside the block; at its end the group is left and every rank has ended. One device: nothing to do.

    The other ranks read the task and the plan from `ranks.json` in the task's folder, never the store:
    on a Ray node (ray_tasks.py) the store is not there."""
    world = plan.devices
    if world <= 1:
        yield None
        return
    atomic_write_text(SharedWithRanks(task=task, plan=plan).to_json(), folder / RANKS_FILE)
    threads = torch.get_num_threads()
    share = max(1, threads // world) if device.type == "cpu" else threads
    rendezvous = private_rendezvous()
    store = dist.FileStore(str(rendezvous), world)
    others = [_start_rank(workspace_root, folder, r, world, rendezvous, share) for r in range(1, world)]
    torch.set_num_threads(share)
    try:
        _wait_ready(store, others, folder)
        group = join(0, world, rendezvous, device, store)
        yield group
    finally:
        leave()
        torch.set_num_threads(threads)
        _end(others)
        del store
        shutil.rmtree(rendezvous.parent, ignore_errors=True)
    failed = [(r, p.returncode) for r, p in enumerate(others, start=1) if p.returncode != 0]
    if failed:
        rank, code = failed[0]
        raise RuntimeError(f"rank {rank} of the data-parallel fit ended with exit code {code}: {_log_tail(folder, rank)}")


def _start_rank(root: Path, folder: Path, rank: int, world: int, rendezvous: Path, threads: int) -> subprocess.Popen:
    argv = ["--workspace", str(root), "--shared", str(folder / RANKS_FILE), "--rank", str(rank), "--world", str(world)]
    argv += ["--rendezvous", str(rendezvous), "--threads", str(threads), "--parent", str(os.getpid())]  # it ends if this process dies
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    with open(folder / f"rank{rank}.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-I", "-m", "deepq_widgets.training.rank", *argv],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _wait_ready(store: dist.Store, others: list[subprocess.Popen], folder: Path) -> None:
    """Until every other rank has its learner: a rank that fails before is said at once, not after a timeout."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    keys = [f"ready/{r}" for r in range(1, len(others) + 1)]
    while not store.check(keys):
        for rank, process in enumerate(others, start=1):
            if process.poll() is not None:
                raise RuntimeError(f"rank {rank} of the data-parallel fit ended before it began: {_log_tail(folder, rank)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the other ranks were not ready within {READY_TIMEOUT_S:.0f} s")
        time.sleep(0.1)


def _end(others: list[subprocess.Popen], grace_s: float = 60.0) -> None:
    deadline = time.monotonic() + grace_s
    for process in others:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _log_tail(folder: Path, rank: int, chars: int = 1500) -> str:
    path = folder / f"rank{rank}.log"
    return path.read_text(errors="replace")[-chars:].strip() if path.exists() else "(no log)"
