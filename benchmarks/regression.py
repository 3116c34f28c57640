"""Regression (issue 22): Auto against a plain full fine-tune at equal wall time, over three draws of the
training cases, on two datasets with held-out test sets:

- `nodule_diameters`: the demo's CT-like patches, a nodule's diameter in mm (synthetic);
- `texture_zoom`: real photographs (scikit-image's brick, grass and gravel textures), each case a crop at a
  random magnification, resized to 64 px; the target is the magnification (1-3x), read from the texture alone.

The baseline is learning.py's: the same ImageNet-pretrained tf_efficientnet_lite0 with one output, AdamW at
lr 1e-3, cosine decay, every layer trained, no augmentation, batch 32, its target standardised by the
training cases' mean and SD, and as many epochs as fit in the wall time Auto used. Both are scored on the
test set: MAE, RMSE and R².
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import torch

from .common import demo_workspace, save, threads
from .learning import fit_in_budget, run_auto, spec_for

TRAIN, TEST = 125, 300  # 125 -> 100 training + 25 validation cases at valid_pct 20
DRAWS = (0, 1, 2)


def texture_zoom(folder: Path, rng: np.random.Generator, count: int) -> None:
    """Crops of real texture photographs at a random magnification; `value` is the magnification."""
    from PIL import Image
    from skimage import data

    textures = [data.brick(), data.grass(), data.gravel()]
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(count):
        zoom = float(rng.uniform(1.0, 3.0))
        side = round(192 / zoom)  # a 192-px field of view at 1x
        photo = textures[i % len(textures)]
        y, x = rng.integers(0, photo.shape[0] - side, 2)
        crop = Image.fromarray(photo[y : y + side, x : x + side]).resize((64, 64), Image.BILINEAR)
        crop.save(folder / "images" / f"{i:04d}.png")
        rows.append(f"images/{i:04d}.png,{zoom:.3f}")
    (folder / "label.csv").write_text("path,value\n" + "\n".join(rows) + "\n")
    (folder / "target.txt").write_text("magnification\nx\n")


def nodules(folder: Path, rng: np.random.Generator, count: int) -> None:
    from deepq_widgets.data.demo.measured import nodule_diameters

    nodule_diameters(folder, rng, count)


def make(ws, name: str, generate, draw: int) -> None:
    for suffix, count, seed in (("", TRAIN, 100 + draw), ("_test", TEST, 999)):
        folder = ws.datasets / f"{name}{suffix}"
        shutil.rmtree(folder, ignore_errors=True)
        generate(folder, np.random.default_rng(seed), count)


def figures(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    from deepq_widgets.kinds.regression.training import figures as kind_figures

    return {k: float(v) for k, v in kind_figures(pred.astype(np.float64), truth.astype(np.float64)).items()}


def predict(model, loader, centre: float = 0.0, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    pred, truth = [], []
    with torch.no_grad():
        for x, y in loader:
            pred.append(centre + scale * model(x)[:, 0].numpy())
            truth.append(y.numpy())
    return np.concatenate(pred), np.concatenate(truth)


def plain_fine_tune(data, train_idx, eval_loader, budget_s: float) -> tuple[dict, float, int]:
    """AdamW 1e-3, cosine, all layers, no augmentation, a standardised target; as many epochs as fit in `budget_s`."""
    from deepq_widgets import kinds
    from deepq_widgets.training.backbones import create_model
    from deepq_widgets.training.loaders import BatchLoader

    torch.manual_seed(0)
    values = data.column("value")[np.asarray(train_idx)]
    centre, scale = float(values.mean()), float(values.std()) or 1.0
    model = create_model("tf_efficientnet_lite0.in1k", 1, in_chans=data.channels).to(memory_format=torch.channels_last)
    targets = kinds.get("regression").trainer.targets
    loader = BatchLoader(data, train_idx, targets, 32, [0.5] * data.channels, [0.5] * data.channels, shuffle=True, seed=0)
    loader.channels_last = True
    wall, epochs = fit_in_budget(model, loader, lambda out, y: torch.nn.functional.mse_loss(out[:, 0], (y - centre) / scale), budget_s)
    return figures(*predict(model, eval_loader, centre, scale)), wall, epochs


def compare(ws, name: str, draw: int) -> dict:
    from deepq_widgets import kinds
    from deepq_widgets.data.cache import build_cache
    from deepq_widgets.data.catalog import scan_dataset
    from deepq_widgets.data.splits import split_cases
    from deepq_widgets.training.loaders import BatchLoader
    from deepq_widgets.training.registry import load_model

    args = ["--flow", "general", "--task", "regression", "--dataset", name, "--seed", str(draw)]
    spec = spec_for(ws, args, f"bench-{name}-{draw}-{time.time():.0f}")
    row, auto_wall, _ = run_auto(ws, spec)
    assert row.state == "finished", row.error
    model, card = load_model(ws, row.model_id)
    size, targets = card.image_size, kinds.get("regression").trainer.targets  # the side Auto planned and trained at
    data = build_cache(scan_dataset(ws, name), ws.root / "cache", size)
    split = split_cases(data.cases, spec["hyper"]["valid_pct"], spec["seed"])
    test = build_cache(scan_dataset(ws, f"{name}_test"), ws.root / "cache", size, channels=data.channels)
    auto = figures(*predict(model, BatchLoader(test, np.arange(len(test.cases)), targets, 64, card.mean, card.std)))
    plain_loader = BatchLoader(test, np.arange(len(test.cases)), targets, 64, [0.5] * data.channels, [0.5] * data.channels)
    plain, plain_wall, plain_epochs = plain_fine_tune(data, split.train, plain_loader, auto_wall)
    return {
        "auto": auto | {"wall_s": auto_wall, "epochs_run": row.epoch},
        "plain": plain | {"wall_s": plain_wall, "epochs": plain_epochs},
        "image_size": size,
        "train_cases": len(split.train),
        "test_cases": len(test.cases),
    }


def main() -> dict:
    threads(2)
    ws = demo_workspace(Path("/tmp/deepq-bench-regression"))
    results: dict[str, dict] = {}
    for name, generate in (("nodule_diameters", nodules), ("texture_zoom", texture_zoom)):
        for draw in DRAWS:
            make(ws, name, generate, draw)
            results[f"{name}, draw {draw}"] = compare(ws, name, draw)
    return save("regression", results)


if __name__ == "__main__":
    main()
