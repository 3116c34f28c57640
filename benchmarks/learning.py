"""Issue 4, learning quality: Auto mode against a plain full fine-tune at equal wall time.

The baseline is what was measured to beat fastai's fine_tune by 9-16 points: the same
ImageNet-pretrained tf_efficientnet_lite0, AdamW at lr 1e-3, cosine decay, every layer
trained, no augmentation, batch 32. It gets as many epochs as fit in the wall time Auto
used (finder included). Both are scored on the same cases: a held-out test set for
scikit-learn's digits (100 training cases), the validation split for the demo presets.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from .common import RESULTS, demo_workspace, save, threads

DIGITS_TRAIN, DIGITS_TEST = 125, 500  # 125 -> 100 train + 25 validation at valid_pct 20


def digits_datasets(ws) -> None:
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(digits.images))
    for name, idx in (("digits", order[:DIGITS_TRAIN]), ("digits_test", order[DIGITS_TRAIN : DIGITS_TRAIN + DIGITS_TEST])):
        folder = ws.datasets / name
        shutil.rmtree(folder, ignore_errors=True)
        for i in idx:
            (folder / str(digits.target[i])).mkdir(parents=True, exist_ok=True)
            img = (digits.images[i] / 16 * 255).astype(np.uint8)
            Image.fromarray(img).resize((64, 64), Image.NEAREST).save(folder / str(digits.target[i]) / f"{i}.png")


def spec_for(ws, flow_args: list[str], name: str) -> dict:
    import contextlib
    import io

    from deepq_widgets.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["spec", "--workspace", str(ws.root), *flow_args, "--name", name]) == 0
    return json.loads(out.getvalue())


def run_auto(ws, spec: dict):
    from deepq_widgets.spec import parse_spec
    from deepq_widgets.store import Store
    from deepq_widgets.training.runner import run_task

    store = Store(ws.db_path)
    task_id = store.submit(parse_spec(spec))
    task = store.claim_next(os.getpid())
    start = time.perf_counter()
    run_task(ws, store, task)
    return store.task(task_id), time.perf_counter() - start, store


def targets_for(task: str):
    """The batch targets of a task kind, as its training part makes them."""
    from deepq_widgets import kinds

    return kinds.get(task).trainer.targets


def scores(task: str, probs: np.ndarray, truth: np.ndarray, classes: list[str]) -> dict:
    from deepq_widgets.training.metrics import multi_label, single_label

    m = single_label(probs, truth, classes) if task == "single_label" else multi_label(probs, truth, classes)
    return {k: v for k, v in m.headline.items() if k in ("accuracy", "auroc", "f1")}


def predict(model, loader, task: str) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    probs, truth = [], []
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            probs.append((out.softmax(1) if task == "single_label" else out.sigmoid()).numpy())
            truth.append(y.numpy())
    return np.concatenate(probs), np.concatenate(truth)


def plain_fine_tune(data, train_idx, eval_loader, task: str, image_size: int, budget_s: float) -> tuple[dict, float, int]:
    """AdamW 1e-3, cosine, all layers, no augmentation; as many epochs as fit in `budget_s`."""
    from deepq_widgets.training.backbones import create_model
    from deepq_widgets.training.loaders import BatchLoader

    torch.manual_seed(0)
    model = create_model("tf_efficientnet_lite0.in1k", len(data.classes), in_chans=data.channels).to(memory_format=torch.channels_last)
    loader = BatchLoader(data, train_idx, targets_for(task), 32, [0.5] * data.channels, [0.5] * data.channels, shuffle=True, seed=0)
    loader.channels_last = True
    loss_fn = torch.nn.CrossEntropyLoss() if task == "single_label" else torch.nn.BCEWithLogitsLoss()
    wall, epochs = fit_in_budget(model, loader, loss_fn, budget_s)
    return scores(task, *predict(model, eval_loader, task), data.classes), wall, epochs


def fit_in_budget(model, loader, loss_fn, budget_s: float) -> tuple[float, int]:
    """The plain loop: AdamW at lr 1e-3, cosine decay over as many epochs as fit in `budget_s` (a warm-up epoch,
    then a second that measures the pace); returns the wall seconds and the epochs."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    start = time.perf_counter()

    def epoch() -> None:
        model.train()
        for x, y in loader:
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    epoch()  # warm-up epoch (slower), then a second one measures the pace
    second = time.perf_counter()
    epoch()
    pace = time.perf_counter() - second
    epochs = max(2, 2 + math.floor((budget_s - (time.perf_counter() - start)) / pace))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    sched.step()
    sched.step()
    for _ in range(epochs - 2):
        epoch()
        sched.step()
    return time.perf_counter() - start, epochs


def compare(ws, name: str, flow_args: list[str], eval_dataset: str | None) -> dict:
    from deepq_widgets.contracts import PlanEvent
    from deepq_widgets.data.cache import build_cache
    from deepq_widgets.data.catalog import scan_dataset
    from deepq_widgets.data.splits import split_cases
    from deepq_widgets.training.loaders import BatchLoader
    from deepq_widgets.training.registry import load_model

    spec = spec_for(ws, flow_args, f"bench-{name}-{time.time():.0f}")
    row, auto_wall, store = run_auto(ws, spec)
    assert row.state == "finished", row.error
    model, card = load_model(ws, row.model_id)
    task, size, windows = spec["task"], card.image_size, spec["windows"]  # the side Auto planned and trained at (the spec's is a cap)
    data = build_cache(scan_dataset(ws, spec["dataset"]), ws.root / "cache", size, windows)
    split = split_cases(data.cases, spec["hyper"]["valid_pct"], spec["seed"])
    if eval_dataset:  # a held-out test set
        test = build_cache(scan_dataset(ws, eval_dataset), ws.root / "cache", size, windows, channels=data.channels)
        eval_data, eval_idx = test, np.arange(len(test.cases))
    else:
        eval_data, eval_idx = data, split.valid
    eval_loader = BatchLoader(eval_data, eval_idx, targets_for(task), 64, card.mean, card.std)
    auto_scores = scores(task, *predict(model, eval_loader, task), data.classes)
    plain_loader = BatchLoader(eval_data, eval_idx, targets_for(task), 64, [0.5] * data.channels, [0.5] * data.channels)
    plain_scores, plain_wall, plain_epochs = plain_fine_tune(data, split.train, plain_loader, task, size, auto_wall)
    plan = store.events(row.id, PlanEvent)[-1].plan
    return {
        "auto": auto_scores | {"wall_s": auto_wall, "epochs_run": row.epoch, "epochs_planned": plan.hyper.epochs, "lr": plan.hyper.lr},
        "plain": plain_scores | {"wall_s": plain_wall, "epochs": plain_epochs},
        "image_size": size,
        "train_cases": len(split.train),
        "eval_cases": len(eval_idx),
    }


def main(only: tuple[str, ...] = ()) -> dict:
    threads(2)
    ws = demo_workspace(Path("/tmp/deepq-bench-learning"))
    digits_datasets(ws)
    if only == ("digits",):
        previous = json.loads((RESULTS / "learning.json").read_text())
        previous.pop("date", None)
        previous["digits (100 training cases, 500 test)"] = compare(
            ws, "digits", ["--flow", "general", "--task", "single_label", "--dataset", "digits"], "digits_test"
        )
        return save("learning", previous)
    results = {
        "digits (100 training cases, 500 test)": compare(
            ws, "digits", ["--flow", "general", "--task", "single_label", "--dataset", "digits"], "digits_test"
        )
    }
    for preset, dataset in [
        ("pneumothorax", "chest_xray_pneumothorax"),
        ("pulmonary_embolism", "chest_cta_embolism"),
        ("intracranial_hemorrhage", "head_ct_hemorrhage"),
    ]:
        results[preset] = compare(ws, preset, ["--flow", "specialized", "--preset", preset, "--dataset", dataset], None)
    return save("learning", results)
