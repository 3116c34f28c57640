"""How fast this machine trains and evaluates a network: a few timed steps on random images.

The result is kept in the workspace (`throughput.json`, per network, size, channels, batch,
device and thread count), so the wizard and `deepq spec` can say how long a plan will take
without measuring again. It times the network as a classifier: a detection or segmentation
head adds to it.
"""

from __future__ import annotations

import time

import torch

from ..duration import Throughput, read_throughput, throughput_key, write_throughput
from ..workspace import WorkspacePaths
from .backbones import create_model
from .loaders import best_device

WARMUP, MIN_STEPS, MIN_SECONDS = 2, 3, 1.0  # the first steps allocate; then at least a second of steps


def measure(arch: str, size: int, channels: int, batch: int) -> Throughput:
    """Images per second for training steps (forward, backward, AdamW) and for evaluation."""
    model = create_model(arch, num_classes=2, in_chans=channels, pretrain="none")
    device = best_device()
    model = model.to(device)
    if device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    x = torch.randn(batch, channels, size, size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch,), device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def train_step() -> None:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def eval_step() -> None:
        with torch.no_grad():
            model(x)

    rates = []
    for step, mode in ((train_step, model.train), (eval_step, model.eval)):
        mode()
        for _ in range(WARMUP):
            step()
        _sync(device)
        steps, start = 0, time.perf_counter()
        while steps < MIN_STEPS or time.perf_counter() - start < MIN_SECONDS:
            step()
            steps += 1
        _sync(device)
        rates.append(steps * batch / (time.perf_counter() - start))
    return Throughput(train=rates[0], evaluate=rates[1])


def measured(workspace: WorkspacePaths, arch: str, size: int, channels: int, batch: int) -> Throughput:
    """The throughput kept in the workspace, measured now when there is none."""
    key = throughput_key(arch, size, channels, batch, threads=torch.get_num_threads())
    found = read_throughput(workspace, key)
    if found is None:
        found = measure(arch, size, channels, batch)
        write_throughput(workspace, key, found)
    return found


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
