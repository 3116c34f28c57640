"""Issue 24, item 7: which epoch's weights Auto keeps when it validates on 20 cases, and whether it should train
the 5-fold ensemble by default on small datasets; measured on real images over several draws.

Each draw: 100 training cases (stratified), every other case the independent test set, a real worker with one
thread (`benchmarks/trust.py`'s helpers), three runs from one task file:
- best: Auto's plan as it stood (early stop on the validation loss, patience a quarter of the epochs, the weights
  of the lowest validation loss kept);
- last: the same task file with no early stop and the last epoch's weights (one-cycle ends at a small rate, so
  the last epoch is the annealed one; 20 cases choose the "best" epoch by noise);
- ensemble: Auto with `ensemble` on (5 folds, each member its own plan, the members averaged).
Test AUROC (one-vs-rest macro for ten classes), accuracy and wall time, on the network without its temperature.

Run: `.venv/bin/python -m benchmarks stopping` (every set), or `python -m benchmarks.stopping faces` (some); about
5 minutes a draw on 2 cores.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from .common import save
from .trust import auto_test_probs, digits, faces, lay_out_draw, run_task_file, task_file
from .trust2 import hard_pair

DRAWS = 5
DATASETS = {"digits_10": digits, "digits_3_vs_8": hard_pair, "faces": faces}
RUNS = ("best", "last", "ensemble")


def test_figures(probs: np.ndarray, truth: np.ndarray) -> dict:
    from sklearn.metrics import roc_auc_score

    auroc = roc_auc_score(truth, probs[:, 1]) if probs.shape[1] == 2 else roc_auc_score(truth, probs, multi_class="ovr")
    return {"auroc": float(auroc), "accuracy": float((probs.argmax(1) == truth).mean())}


def one_draw(ws, name: str, images: list[np.ndarray], labels: list[str], seed: int) -> dict:
    from deepq_widgets.contracts import PlanEvent

    _, _, _, dataset, files, truth = lay_out_draw(ws, name, images, labels, seed)
    auto = task_file(ws, dataset, f"{dataset}-{time.time():.0f}")
    row, wall, store = run_task_file(ws, auto)
    last = store.events(row.id, PlanEvent)[-1].ran_as.model_dump(mode="json")
    last["name"] += " last weights"
    last["hyper"] |= {"early_stop": False, "last_weights": True}
    ensemble = auto | {"name": auto["name"] + " ensemble", "auto": auto["auto"] | {"ensemble": True}}
    out = {"best": (row, wall)}
    for run, spec in (("last", last), ("ensemble", ensemble)):
        out[run] = run_task_file(ws, spec)[:2]
    return {
        run: test_figures(auto_test_probs(ws, r.model_id, files, calibrated=False), truth) | {"wall_s": w, "epochs": r.epoch + 1}
        for run, (r, w) in out.items()
    }


def summary(draws: list[dict]) -> dict:
    out = {}
    for run in RUNS:
        for figure in ("auroc", "accuracy", "wall_s"):
            values = [d[run][figure] for d in draws]
            out[f"{run}_{figure}_mean"] = round(float(np.mean(values)), 4)
            if figure != "wall_s":
                out[f"{run}_{figure}_worst"] = round(float(np.min(values)), 4)
    out["last_beats_best"] = sum(d["last"]["auroc"] > d["best"]["auroc"] for d in draws)
    out["ensemble_beats_best"] = sum(d["ensemble"]["auroc"] > d["best"]["auroc"] for d in draws)
    return out


def main(only: tuple[str, ...] = ()) -> dict:
    from deepq_widgets.workspace import WorkspacePaths

    root = Path("/tmp/deepq-bench-stopping")
    shutil.rmtree(root, ignore_errors=True)
    ws = WorkspacePaths(root)
    results: dict = {"command": "python -m benchmarks stopping", "draws": DRAWS}
    for name, load in DATASETS.items():
        if only and name not in only:
            continue
        images, labels = load()
        draws = []
        for seed in range(DRAWS):
            draws.append(one_draw(ws, name, images, labels, seed))
            results[name] = {"draws": draws, "summary": summary(draws)}
            save("stopping", results)  # a draw at a time: a long run stopped part-way keeps what it measured
    return save("stopping", results)


if __name__ == "__main__":
    print(json.dumps(main(tuple(sys.argv[1:])), indent=1)[:3000])
