"""Issue 4: our trainer against a plain PyTorch loop (same model, data, batch; >= 0.95x), the loader
against the training step on DICOM (>= 5x), and img/s per network and size with the share of the
machine's matmul peak. Runs are interleaved (A B A B) because the machine is shared and noisy."""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from .common import demo_workspace, save, threads

BATCH = 32


def matmul_peak() -> float:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    for _ in range(2):
        a @ b
    start, n = time.perf_counter(), 6
    for _ in range(n):
        a @ b
    return 2 * 2048**3 * n / (time.perf_counter() - start) / 1e9


def cached(ws, name: str, size: int, windows=()):
    from deepq_widgets.data.cache import build_cache
    from deepq_widgets.data.catalog import scan_dataset

    return build_cache(scan_dataset(ws, name), ws.root / "cache", size, windows)


def loaders(data, size_batches: int):
    """A loader of `size_batches` batches; cases repeat when the dataset is smaller."""
    from deepq_widgets.spec import Augmentation
    from deepq_widgets.training.loaders import BatchLoader

    idx = np.arange(BATCH * size_batches) % len(data.cases)
    mean, std = [0.5] * data.channels, [0.5] * data.channels
    from deepq_widgets import kinds

    targets = kinds.get("single_label").trainer.targets
    return BatchLoader(data, idx, targets, BATCH, mean, std, augment=Augmentation(rotate_deg=10), shuffle=True, seed=0)


def plain_epoch(model, loader, opt) -> float:
    model.train()
    start = time.perf_counter()
    for x, y in loader:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def fastai_epoch(learn) -> float:
    start = time.perf_counter()
    learn.fit(1, 1e-3)
    return time.perf_counter() - start


def trainer_vs_loop(ws, batches: int) -> dict:
    from fastai.callback.progress import ProgressCallback
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner

    from deepq_widgets import kinds
    from deepq_widgets.spec import TaskSpec
    from deepq_widgets.store import Store
    from deepq_widgets.training import callbacks as cb
    from deepq_widgets.training.backbones import create_model
    from deepq_widgets.training.sink import StoreSink

    data = cached(ws, "ultrasound_lesions", 128)
    train = loaders(data, batches)
    train.channels_last = True
    valid = loaders(data, 1)
    valid.augment, valid.shuffle, valid.drop_last = None, False, False
    make = lambda: create_model("tf_efficientnet_lite0.in1k", 3, in_chans=1).to(memory_format=torch.channels_last)  # noqa: E731
    plain_model = make()
    opt = torch.optim.AdamW(plain_model.parameters(), 1e-3)
    store = Store(ws.root / "bench.sqlite")
    task = store.submit(TaskSpec(name=f"bench-{time.time():.0f}", hyper={"epochs": 100}))
    folder = ws.root / "bench-task"
    learn = Learner(DataLoaders(train, valid, device="cpu"), make(), loss_func=torch.nn.CrossEntropyLoss())
    learn.remove_cb(ProgressCallback)
    learn.logger = lambda *_: None
    sink, clock = StoreSink(store, task), cb.ComputeClock()
    run_callbacks = [
        clock,
        cb.ValidationMetrics(kinds.get("single_label").trainer.accumulator(data.classes)),
        cb.LossMeans(),
        cb.LiveProgress(sink, 100, clock),
        cb.StopOnRequest(sink.stop_requested),
        cb.KeepBest(folder),
        cb.Checkpoint(folder, clock),
        cb.EpochLog(sink, 100, clock),
    ]
    for callback in run_callbacks:
        learn.add_cb(callback)
    # Validation and checkpoints are part of our epoch; time the plain loop with the same validation pass.
    ours, plain = [], []
    for _ in range(3):
        ours.append(fastai_epoch(learn))
        plain.append(plain_epoch(plain_model, train, opt) + _validate(plain_model, valid))
    images = len(train) * BATCH
    return {
        "ours_img_per_s": images / statistics.median(ours),
        "plain_img_per_s": images / statistics.median(plain),
        "ratio": statistics.median(plain) / statistics.median(ours),
    }


def _validate(model, loader) -> float:
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for x, _ in loader:
            model(x)
    return time.perf_counter() - start


def loader_vs_step(ws) -> dict:
    from deepq_widgets.training.backbones import create_model

    data = cached(ws, "head_ct_hemorrhage", 128, ["brain", "subdural", "bone"])
    loader = loaders(data, 4)
    loader.channels_last = True
    list(loader)  # first pass (the cache is built; epochs after this are what we measure)
    start = time.perf_counter()
    batches = list(loader)
    load = (time.perf_counter() - start) / len(batches)
    model = create_model("tf_efficientnet_lite0.in1k", 2, in_chans=3).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    step = plain_epoch(model, [(x, y % 2) for x, y in batches], opt) / len(batches)
    return {"load_s_per_batch": load, "train_step_s_per_batch": step, "step_over_load": step / load}


def throughput(peak: float) -> dict:
    from deepq_widgets import zoo
    from deepq_widgets.training.backbones import create_model

    out = {}
    for name in ["resnet18.a1_in1k", "tf_efficientnet_lite0.in1k", "mobilenetv3_large_100.ra_in1k"]:
        for size in (128, 224):
            model = create_model(name, 10, pretrain="none").to(memory_format=torch.channels_last)
            opt = torch.optim.AdamW(model.parameters(), 1e-3)
            x = torch.randn(BATCH, 3, size, size).contiguous(memory_format=torch.channels_last)
            y = torch.randint(0, 10, (BATCH,))
            plain_epoch(model, [(x, y)] * 2, opt)  # warm-up
            seconds = plain_epoch(model, [(x, y)] * 3, opt) / 3
            img_s = BATCH / seconds
            gflop_per_img = zoo.get(name).gflops * (size / zoo.get(name).input_size) ** 2 * 3  # forward + backward ~ 3x forward
            out[f"{name} @ {size}px"] = {"img_per_s": img_s, "share_of_peak": img_s * gflop_per_img / peak}
    return out


def main() -> dict:
    threads(2)
    ws = demo_workspace()
    peak = matmul_peak()
    return save(
        "training_speed",
        {
            "threads": torch.get_num_threads(),
            "matmul_peak_gflops": peak,
            "trainer_vs_plain_loop_3_batches": trainer_vs_loop(ws, 3),
            "trainer_vs_plain_loop_10_batches": trainer_vs_loop(ws, 10),
            "loader_vs_step_dicom": loader_vs_step(ws),
            "train_throughput": throughput(peak),
        },
    )
