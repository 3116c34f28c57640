"""Issue 9: Auto against a plain 20-line timm fine-tune, on real images, over several draws.

For each dataset and draw: 100 training cases are drawn; the rest are the independent test set.
- Auto: the task the wizard makes (General flow, Auto), submitted to the store and run by a real
  worker process with one torch thread; its wall time runs from submit to the registered model.
- Auto, refit: the same task file as run, with refit on (after validation has chosen the epochs,
  a fresh network trains on all 100 cases).
- plain: the script a researcher would write (timm tf_efficientnet_lite0 ImageNet weights,
  AdamW lr 1e-3, one-cycle, flips and a small affine, batch 32, all 100 cases, 64 px, one
  thread), for 11 epochs, and again for as many epochs as fit in Auto's wall time (with and
  without flips: a flipped digit is not a digit) and in Auto-with-refit's.
Both are scored on the same test cases. The validation AUROC the product shows, with its 95%
interval when the product reports one, is recorded so that the coverage can be counted.

Run: `.venv/bin/python -m benchmarks trust` (about 3 minutes a draw).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .common import RESULTS, save

DRAWS, TRAIN_CASES, PLAIN_EPOCHS, SIDE = 3, 100, 11, 64


# -- real images you can get offline --------------------------------------------------------------------
def digits() -> tuple[list[np.ndarray], list[str]]:
    """scikit-learn's 1,797 handwritten digits, 8 x 8 grey, ten classes."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return [(img / 16 * 255).astype(np.uint8) for img in d.images], [str(t) for t in d.target]


def faces() -> tuple[list[np.ndarray], list[str]]:
    """scikit-image's lfw_subset: 100 faces and 100 non-faces, 25 x 25 grey photographs."""
    from skimage.data import lfw_subset

    images = lfw_subset()
    return [(img * 255).astype(np.uint8) for img in images], ["face"] * 100 + ["non_face"] * 100


DATASETS = {"digits": digits, "faces": faces}


def draw(labels: list[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """100 training cases stratified by class; every other case is the test set."""
    rng = np.random.default_rng(seed)
    classes = sorted(set(labels))
    by_class = {c: rng.permutation([i for i, label in enumerate(labels) if label == c]) for c in classes}
    train = []
    for k, c in enumerate(classes):
        share = TRAIN_CASES // len(classes) + (k < TRAIN_CASES % len(classes))
        train += list(by_class[c][:share])
    train = np.array(sorted(train))
    test = np.setdiff1d(np.arange(len(labels)), train)
    return train, test


def write_folder(root: Path, images: list[np.ndarray], labels: list[str], indices: np.ndarray) -> None:
    from PIL import Image

    shutil.rmtree(root, ignore_errors=True)
    for i in indices:
        (root / labels[i]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(root / labels[i] / f"{i}.png")


# -- the product --------------------------------------------------------------------------------------------
def task_file(ws, dataset: str, name: str) -> dict:
    """The task file the wizard makes: General flow, Auto."""
    from deepq_widgets.cli import main as deepq

    out = ws.root / "spec.json"
    with open(out, "w") as fh:
        old, sys.stdout = sys.stdout, fh
        try:
            argv = ["--flow", "general", "--task", "single_label", "--dataset", dataset, "--name", name]
            assert deepq(["spec", "--workspace", str(ws.root), *argv]) == 0
        finally:
            sys.stdout = old
    return json.loads(out.read_text())


def run_task_file(ws, spec: dict) -> tuple[object, float, object]:
    """Submit a task file and run it with a real worker process (one thread); wall time from submit to the registered model."""
    from deepq_widgets.spec import parse_spec
    from deepq_widgets.store import Store

    store = Store(ws.db_path)
    start = time.perf_counter()
    task_id = store.submit(parse_spec(spec))
    worker = [sys.executable, "-m", "deepq_widgets.training.worker", "--workspace", str(ws.root), "--idle-exit", "0", "--threads", "1"]
    subprocess.run(worker, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    row = store.task(task_id)
    assert row.state == "finished", f"{row.error}\n{row.traceback}"
    return row, wall, store


def auto_test_probs(ws, model_id: str, files: list[Path], calibrated: bool = True) -> np.ndarray:
    """The registered model's class probabilities on the test files, through the product's preprocessing (with its
    temperature, or the network's own with `calibrated=False`)."""
    from deepq_widgets.data.preprocess import read_network_pixels
    from deepq_widgets.training.loaders import normalise, to_unit
    from deepq_widgets.training.registry import load_model

    model, card = load_model(ws, model_id, calibrated)
    model.eval()
    probs = []
    with torch.no_grad():
        for start in range(0, len(files), 128):
            batch = [read_network_pixels(f, card.windows, card.channels, card.image_size) for f in files[start : start + 128]]
            x = normalise(to_unit(torch.from_numpy(np.stack(batch))), card.mean, card.std)
            probs.append(model(x).softmax(1).numpy())
    return np.concatenate(probs)


# -- the plain script ------------------------------------------------------------------------------------------
def tensors(images: list[np.ndarray], indices: np.ndarray) -> torch.Tensor:
    x = torch.stack([torch.from_numpy(images[i]).float().div(255) for i in indices])[:, None]
    x = torch.nn.functional.interpolate(x, size=(SIDE, SIDE), mode="bilinear", align_corners=False)
    return ((x - 0.5) / 0.5).expand(-1, 3, -1, -1).contiguous()


def plain_fine_tune(
    x: torch.Tensor, y: torch.Tensor, classes: int, epochs: int, seed: int, flip: bool = True
) -> tuple[torch.nn.Module, float]:
    """The 20-line script: timm, AdamW 1e-3, one-cycle, flips (unless `flip` is off) and a small affine, batch 32."""
    import timm
    from torchvision.transforms import v2

    from deepq_widgets.zoo import load_pretrained_state

    torch.manual_seed(seed)
    model = timm.create_model("tf_efficientnet_lite0", num_classes=classes)
    state = {k: v for k, v in load_pretrained_state("tf_efficientnet_lite0.in1k").items() if not k.startswith("classifier")}
    model.load_state_dict(state, strict=False)
    affine = v2.RandomAffine(degrees=10, translate=(0.05, 0.05), scale=(0.9, 1.1))
    augment = v2.Compose([v2.RandomHorizontalFlip(), affine] if flip else [affine])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    steps = math.ceil(len(x) / 32)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=epochs * steps)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(x)).split(32):
            xb = torch.stack([augment(img) for img in x[batch]])
            loss = torch.nn.functional.cross_entropy(model(xb), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval(), time.perf_counter() - start


def plain_test_probs(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([model(b).softmax(1) for b in x.split(256)]).numpy()


# -- scoring ---------------------------------------------------------------------------------------------------
def score(probs: np.ndarray, truth: np.ndarray) -> dict:
    from sklearn.metrics import accuracy_score, roc_auc_score

    auroc = roc_auc_score(truth, probs[:, 1]) if probs.shape[1] == 2 else roc_auc_score(truth, probs, multi_class="ovr")
    return {"accuracy": float(accuracy_score(truth, probs.argmax(1))), "auroc": float(auroc)}


def lay_out_draw(ws, name: str, images: list[np.ndarray], labels: list[str], seed: int):
    """Draw `seed`'s training cases into a workspace dataset and the rest into a test folder: (classes,
    train, test indices, dataset name, test files, test truth as class indices)."""
    classes = sorted(set(labels))
    train, test = draw(labels, seed)
    dataset = f"{name}_{seed}"
    write_folder(ws.datasets / dataset, images, labels, train)
    write_folder(ws.root / "test" / dataset, images, labels, test)
    files = [ws.root / "test" / dataset / labels[i] / f"{i}.png" for i in test]
    return classes, train, test, dataset, files, np.array([classes.index(labels[i]) for i in test])


def one_draw(ws, name: str, images: list[np.ndarray], labels: list[str], seed: int) -> dict:
    from deepq_widgets.contracts import EpochEvent, PlanEvent

    classes, train, test, dataset, files, truth = lay_out_draw(ws, name, images, labels, seed)

    row, auto_wall, store = run_task_file(ws, task_file(ws, dataset, f"{dataset}-{time.time():.0f}"))
    plan_event = store.events(row.id, PlanEvent)[-1]
    auto = score(auto_test_probs(ws, row.model_id, files), truth)
    shown = {k: row.metrics.get(k) for k in ("accuracy", "auroc", "auroc_ci", "cases")}
    shown["covers_test_auroc"] = bool(shown["auroc_ci"] and shown["auroc_ci"][0] <= auto["auroc"] <= shown["auroc_ci"][1])
    # `deepq evaluate` on a 100-case subset of the test set: does its interval hold the whole test set's AUROC?
    from deepq_widgets.training.dataset_evaluation import evaluate_dataset

    subset = np.random.default_rng(seed).choice(test, size=min(100, len(test)), replace=False)
    write_folder(ws.datasets / f"{dataset}_test100", images, labels, subset)
    sub = evaluate_dataset(ws, row.model_id, f"{dataset}_test100").metrics
    on_subset = {"auroc": sub.headline["auroc"], "auroc_ci": list(sub.intervals["auroc"]), "cases": sub.cases}
    on_subset["covers_test_auroc"] = bool(on_subset["auroc_ci"][0] <= auto["auroc"] <= on_subset["auroc_ci"][1])
    # The same run refit on every case afterwards: the task file as run, with refit on.
    refit_spec = plan_event.ran_as.model_dump(mode="json")
    refit_spec["name"] += " refit"
    refit_spec["hyper"]["refit"] = True
    refit_row, refit_wall, _ = run_task_file(ws, refit_spec)
    refit = score(auto_test_probs(ws, refit_row.model_id, files), truth)

    torch.set_num_threads(1)
    x, y = tensors(images, train), torch.tensor([classes.index(labels[i]) for i in train])
    x_test = tensors(images, test)

    def plain(epochs: int, flip: bool = True) -> dict:
        model, wall = plain_fine_tune(x, y, len(classes), epochs, seed, flip)
        return score(plain_test_probs(model, x_test), truth) | {"wall_s": wall, "epochs": epochs}

    plain_11 = plain(PLAIN_EPOCHS)
    pace = plain_11["wall_s"] / PLAIN_EPOCHS
    return {
        "train": len(train),
        "test": len(test),
        "auto": auto | {"wall_s": auto_wall, "epochs_run": len(store.events(row.id, EpochEvent)), "plan": plan_event.plan.to_dict()},
        "auto_refit": refit | {"wall_s": refit_wall},
        "auto_shown_on_validation": shown,
        "evaluate_on_100_test_cases": on_subset,
        "plain_11_epochs": plain_11,
        "plain_equal_time": plain(max(1, int(auto_wall / pace))),
        "plain_equal_time_no_flip": plain(max(1, int(auto_wall / pace)), flip=False),
        "plain_equal_to_refit": plain(max(1, int(refit_wall / pace))),
        "time_ratio_auto_to_plain_11": auto_wall / plain_11["wall_s"],
        "time_ratio_refit_to_plain_11": refit_wall / plain_11["wall_s"],
    }


def main(only: tuple[str, ...] = ()) -> dict:
    from deepq_widgets.workspace import WorkspacePaths

    root = Path("/tmp/deepq-bench-trust")
    shutil.rmtree(root, ignore_errors=True)
    ws = WorkspacePaths(root)
    previous = RESULTS / "trust.json"  # a run of some datasets keeps the others' results
    results: dict = json.loads(previous.read_text()) if only and previous.is_file() else {}
    results.pop("date", None)
    for name, load in DATASETS.items():
        if only and name not in only:
            continue
        images, labels = load()
        results[name] = [one_draw(ws, name, images, labels, seed) for seed in range(DRAWS)]
        results[name + " (mean)"] = summary(results[name])
        save("trust", results)
    return save("trust", results)


def summary(draws: list[dict]) -> dict:
    def mean(run: str, figure: str) -> float:
        return float(np.mean([d[run][figure] for d in draws]))

    runs = ("auto", "auto_refit", "plain_11_epochs", "plain_equal_time", "plain_equal_time_no_flip", "plain_equal_to_refit")
    return (
        {f"{run}_auroc": mean(run, "auroc") for run in runs}
        | {f"{run}_accuracy": mean(run, "accuracy") for run in runs}
        | {f"{run}_wall_s": mean(run, "wall_s") for run in ("auto", "auto_refit", "plain_11_epochs")}
        | {
            "time_ratio_auto_to_plain_11": float(np.mean([d["time_ratio_auto_to_plain_11"] for d in draws])),
            "time_ratio_refit_to_plain_11": float(np.mean([d["time_ratio_refit_to_plain_11"] for d in draws])),
            "validation_interval_covers_test_auroc": sum(d["auto_shown_on_validation"]["covers_test_auroc"] for d in draws),
            "evaluate_100_interval_covers_test_auroc": sum(d["evaluate_on_100_test_cases"]["covers_test_auroc"] for d in draws),
        }
    )


if __name__ == "__main__":
    main(tuple(sys.argv[1:]))
