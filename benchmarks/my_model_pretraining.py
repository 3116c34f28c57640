"""Issue 26, second benchmark: a model trained on one task of a set as the pretraining source of a different task
on the same kind of images (other classes), against ImageNet weights.

The source: Auto on scikit-learn's digits of six classes (0, 1, 2, 4, 5, 7; 600 cases), registered as a model.
The targets: classes the source never saw: the pairs 3 vs 8 and 6 vs 9, and the four together. Per draw: 100
training cases of the target's classes, the rest of them the independent test set; Auto as it stands (ImageNet
weights), then the task file it ran as (Full Manual, the same network, size and hyperparameters) started from the
source model's backbone (`pretrain: model:<id>`), so that the starting weights are the only difference. Test AUROC
and accuracy on the network without its temperature, wall time; one thread, a real worker (`benchmarks/trust.py`).

Run: `.venv/bin/python -m benchmarks my_model_pretraining`; about 10 minutes on 2 cores.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from .common import save
from .stopping import test_figures
from .trust import auto_test_probs, digits, lay_out_draw, run_task_file, task_file, write_folder

DRAWS = 3
SOURCE_CLASSES = ("0", "1", "2", "4", "5", "7")
SOURCE_CASES = 600
TARGETS = {"digits_3_vs_8": ("3", "8"), "digits_6_vs_9": ("6", "9"), "digits_3_6_8_9": ("3", "6", "8", "9")}


def source_model(ws) -> str:
    """Auto on the six source classes; its model id."""
    images, labels = digits()
    kept = np.array([i for i, label in enumerate(labels) if label in SOURCE_CLASSES])
    chosen = np.random.default_rng(0).choice(kept, size=SOURCE_CASES, replace=False)
    write_folder(ws.datasets / "digits_source", images, labels, chosen)
    row, _, _ = run_task_file(ws, task_file(ws, "digits_source", "digits source"))
    return row.model_id


def one_draw(ws, name: str, pair: tuple[str, str], seed: int, source: str) -> dict:
    from deepq_widgets.contracts import PlanEvent

    images, labels = digits()
    kept = [i for i, label in enumerate(labels) if label in pair]
    _, _, _, dataset, files, truth = lay_out_draw(ws, name, [images[i] for i in kept], [labels[i] for i in kept], seed)
    row, wall, store = run_task_file(ws, task_file(ws, dataset, f"{dataset}-{time.time():.0f}"))
    ran_as = store.events(row.id, PlanEvent)[-1].ran_as.model_dump(mode="json")
    from_model = ran_as | {"name": ran_as["name"] + " from my model", "model": ran_as["model"] | {"pretrain": f"model:{source}"}}
    mine, mine_wall, _ = run_task_file(ws, from_model)
    return {
        "network": ran_as["model"]["arch"],
        "imagenet": test_figures(auto_test_probs(ws, row.model_id, files, calibrated=False), truth) | {"wall_s": wall},
        "my_model": test_figures(auto_test_probs(ws, mine.model_id, files, calibrated=False), truth) | {"wall_s": mine_wall},
    }


def summary(draws: list[dict]) -> dict:
    out = {}
    for run in ("imagenet", "my_model"):
        for figure in ("auroc", "accuracy", "wall_s"):
            out[f"{run}_{figure}_mean"] = round(float(np.mean([d[run][figure] for d in draws])), 4)
    out["my_model_beats_imagenet"] = sum(d["my_model"]["auroc"] > d["imagenet"]["auroc"] for d in draws)
    return out


def main(only: tuple[str, ...] = ()) -> dict:
    from deepq_widgets.evaluations import read_card
    from deepq_widgets.workspace import WorkspacePaths

    root = Path("/tmp/deepq-bench-my-model")
    shutil.rmtree(root, ignore_errors=True)
    ws = WorkspacePaths(root)
    start = time.perf_counter()
    source = source_model(ws)
    card = read_card(ws, source)
    results: dict = {
        "command": "python -m benchmarks my_model_pretraining",
        "source": {"classes": card.classes, "network": card.arch, "cases": SOURCE_CASES, "wall_s": round(time.perf_counter() - start, 1)},
    }
    for name, pair in TARGETS.items():
        if only and name not in only:
            continue
        draws = []
        for seed in range(DRAWS):
            draws.append(one_draw(ws, name, pair, seed, source))
            results[name] = {"draws": draws, "summary": summary(draws)}
            save("my_model_pretraining", results)  # a draw at a time
    return save("my_model_pretraining", results)


if __name__ == "__main__":
    import sys

    main(tuple(sys.argv[1:]))
