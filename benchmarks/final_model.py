"""Issue 9, item 5: what the final model trains on, for small datasets, at equal wall time.

For each dataset and draw (100 training cases; every other case is the test set), the Auto task
the wizard makes is run by a real worker process (one thread), then its task file as run
(`ran_as`: Full Manual with Auto's plan) with one change each:
- `ensemble_5`: a 5-fold ensemble, its members trained for the epochs the validated fit chose;
- `single_equal_time`: one network trained, without early stopping, for as many epochs as fit in
  the ensemble's wall time;
and the plain 20-line script of trust.py given the ensemble's wall time (with the flips the issue's
script has, and without). Every model is scored on the same test cases (AUROC, accuracy) with its
wall time from submit to the registered model; the figures the product shows (validation, or out of
fold for an ensemble) are kept with their 95% intervals, to count how often the interval holds the
test AUROC.

A first run (2026-11-24, in benchmarks/README.md) also tried ensembles cut to Auto's own time
(`ensemble_5_budget`, `ensemble_3_budget`: each fit 1/k of Auto's epochs); they lost 0.10 AUROC on
digits and are left out of this one.

Run: `python -m benchmarks final_model` (about 4 minutes a draw).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .common import save
from .trust import (
    DRAWS,
    auto_test_probs,
    digits,
    lay_out_draw,
    plain_fine_tune,
    plain_test_probs,
    run_task_file,
    score,
    task_file,
    tensors,
)

PATCH = 32


def textures() -> tuple[list[np.ndarray], list[str]]:
    """scikit-image's photographs of brick, grass and gravel cut into 32 x 32 patches that do not overlap: 3 x 256 cases."""
    from skimage import data

    images, labels = [], []
    for name in ("brick", "grass", "gravel"):
        photo = getattr(data, name)()
        for y in range(0, photo.shape[0] - PATCH + 1, PATCH):
            for x in range(0, photo.shape[1] - PATCH + 1, PATCH):
                images.append(np.ascontiguousarray(photo[y : y + PATCH, x : x + PATCH]))
                labels.append(name)
    return images, labels


DATASETS = {"digits": digits, "textures": textures}


def one_draw(ws, name: str, images: list[np.ndarray], labels: list[str], seed: int) -> dict:
    from deepq_widgets.contracts import PlanEvent

    classes, train, test, dataset, files, truth = lay_out_draw(ws, name, images, labels, seed)

    def judged(row, wall: float, epochs: int) -> dict:
        found = score(auto_test_probs(ws, row.model_id, files), truth)
        shown = row.metrics
        covers = bool(shown.get("auroc_ci") and shown["auroc_ci"][0] <= found["auroc"] <= shown["auroc_ci"][1])
        return found | {
            "wall_s": wall,
            "epochs": epochs,
            "shown_auroc": shown.get("auroc"),
            "shown_auroc_ci": shown.get("auroc_ci"),
            "shown_cases": shown.get("cases"),
            "interval_covers_test_auroc": covers,
        }

    def variant(suffix: str, **hyper) -> tuple[dict, float]:
        spec = {**ran_as, "name": f"{ran_as['name']} {suffix}", "hyper": ran_as["hyper"] | hyper}
        row, wall, _ = run_task_file(ws, spec)
        return judged(row, wall, spec["hyper"]["epochs"]), wall

    row, auto_wall, store = run_task_file(ws, task_file(ws, dataset, f"{dataset}-{time.time():.0f}"))
    ran_as = store.events(row.id, PlanEvent)[-1].ran_as.model_dump(mode="json")
    epochs = ran_as["hyper"]["epochs"]
    results = {"auto": judged(row, auto_wall, epochs)}
    results["ensemble_5"], ensemble_wall = variant("ensemble", folds=5)
    longer = min(200, round(epochs * ensemble_wall / auto_wall))
    results["single_equal_time"], _ = variant("single", epochs=longer, early_stop=False)

    torch.set_num_threads(1)
    x, y = tensors(images, train), torch.tensor([classes.index(labels[i]) for i in train])
    x_test = tensors(images, test)
    pace = plain_fine_tune(x, y, len(classes), 2, seed)[1] / 2
    for flip in (True, False):
        model, wall = plain_fine_tune(x, y, len(classes), max(1, int(ensemble_wall / pace)), seed, flip)
        results[f"plain_equal_time{'' if flip else '_no_flip'}"] = score(plain_test_probs(model, x_test), truth) | {"wall_s": wall}
    return results


def summary(draws: list[dict]) -> dict:
    out = {}
    for run in draws[0]:
        out[run] = {
            "test_auroc": float(np.mean([d[run]["auroc"] for d in draws])),
            "test_accuracy": float(np.mean([d[run]["accuracy"] for d in draws])),
            "wall_s": float(np.mean([d[run]["wall_s"] for d in draws])),
            "interval_covers_test_auroc": f"{sum(d[run].get('interval_covers_test_auroc', False) for d in draws)} of {len(draws)}",
            "wins_over_auto": sum(d[run]["auroc"] > d["auto"]["auroc"] for d in draws),
        }
    return out


def main(only: tuple[str, ...] = ()) -> dict:
    from deepq_widgets.workspace import WorkspacePaths

    root = Path("/tmp/deepq-bench-final-model")
    shutil.rmtree(root, ignore_errors=True)
    ws = WorkspacePaths(root)
    results: dict = {}
    for name, load in DATASETS.items():
        if only and name not in only:
            continue
        images, labels = load()
        results[name] = [one_draw(ws, name, images, labels, seed) for seed in range(DRAWS)]
        results[name + " (mean)"] = summary(results[name])
        save("final_model", results)
    return save("final_model", results)


if __name__ == "__main__":
    main(tuple(sys.argv[1:]))
