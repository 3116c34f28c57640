"""Hyperparameter search: no search, random search and population-based training on digits.

The same Full Manual task (tf_efficientnet_lite0, 20 epochs, 96 px, 100 training cases,
no flips or rotations: they turn a 6 into a 9)
runs three ways in one process; each model is scored on the same 500 held-out digits.
Random search and PBT get the same number of trials (members) and epochs per trial.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .common import demo_workspace, save, threads
from .learning import digits_datasets, predict, run_auto, scores, spec_for, targets_for

EPOCHS, SIZE, TRIALS = 20, 96, 8


def run(ws, method: str) -> dict:
    from deepq_widgets.contracts import PlanEvent, SearchTrialEvent
    from deepq_widgets.data.cache import build_cache
    from deepq_widgets.data.catalog import scan_dataset
    from deepq_widgets.training.loaders import BatchLoader
    from deepq_widgets.training.registry import load_model

    args = ["--flow", "general", "--task", "single_label", "--dataset", "digits", "--model", "tf_efficientnet_lite0.in1k"]
    args += ["--tuning", "manual", "--epochs", str(EPOCHS), "--image-size", str(SIZE)]
    if method != "none":
        args += ["--search", method, "--trials", str(TRIALS)]
    spec = spec_for(ws, args, f"bench-search-{method}-{time.time():.0f}")
    spec["augment"].update(hflip=False, rotate_deg=0)
    row, wall, store = run_auto(ws, spec)
    assert row.state == "finished", row.error
    model, card = load_model(ws, row.model_id)
    test = build_cache(scan_dataset(ws, "digits_test"), ws.root / "cache", SIZE, card.windows, channels=card.channels)
    loader = BatchLoader(test, np.arange(len(test.cases)), targets_for("single_label"), 64, card.mean, card.std)
    plan = store.events(row.id, PlanEvent)[-1].plan
    trials = store.events(row.id, SearchTrialEvent)
    return scores("single_label", *predict(model, loader, "single_label"), card.classes) | {
        "wall_s": wall,
        "lr": plan.hyper.lr,
        "weight_decay": plan.hyper.weight_decay,
        "batch_size": plan.hyper.batch_size,
        "final_run_epochs": row.epoch,
        "search_reports": len(trials),
        "pruned": sum(t.pruned for t in trials),
        "copied": sum(bool(t.history) and (t.round or 0) > 0 for t in trials),
    }


def main() -> dict:
    threads(2)
    ws = demo_workspace(Path("/tmp/deepq-bench-learning"))
    digits_datasets(ws)
    return save("search", {method: run(ws, method) for method in ("none", "random", "pbt")})
