"""Issue 9: `deepq evaluate` (batched, through the cache) against `deepq predict` (one image at a time).

2,000 real 64 px images (scikit-learn's digits, upscaled), a registered tf_efficientnet_lite0;
both read every file from disk, so decoding is counted on both sides. Run side by side in one
process: `.venv/bin/python -m benchmarks evaluate_speed`.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from .common import save, threads

CASES, SIDE = 2000, 64


def workspace_with_digits(root: Path):
    from PIL import Image
    from sklearn.datasets import load_digits

    from deepq_widgets.workspace import WorkspacePaths

    shutil.rmtree(root, ignore_errors=True)
    ws = WorkspacePaths(root)
    digits = load_digits()
    for i in range(CASES):
        k = i % len(digits.images)
        folder = ws.datasets / "digits_2000" / str(digits.target[k])
        folder.mkdir(parents=True, exist_ok=True)
        img = Image.fromarray((digits.images[k] / 16 * 255).astype(np.uint8)).resize((SIDE, SIDE), Image.BILINEAR)
        img.save(folder / f"{i}.png")
    return ws


def register_untrained(ws, model_id: str = "digits-speed", classes: list[str] | None = None, side: int = SIDE) -> str:
    """A registered lite0 (inference speed and memory do not depend on the weights' values)."""
    from deepq_widgets import kinds
    from deepq_widgets.contracts import ModelCard
    from deepq_widgets.store import Store
    from deepq_widgets.training.registry import register_model

    classes = classes or [str(d) for d in range(10)]
    model = kinds.get("single_label").trainer.build_model("tf_efficientnet_lite0.in1k", len(classes), 1, side, "none", ws)
    card = ModelCard(
        id=model_id,
        name=model_id.replace("-", " "),
        task="single_label",
        arch="tf_efficientnet_lite0.in1k",
        classes=classes,
        image_size=side,
        channels=1,
        mean=[0.5],
        std=[0.5],
        dataset="digits_2000",
    )
    return register_model(ws, Store(ws.db_path), model, card).id


def main() -> dict:
    from deepq_widgets.data.catalog import scan_dataset
    from deepq_widgets.training.dataset_evaluation import evaluate_dataset
    from deepq_widgets.training.export import predict

    threads(2)
    ws = workspace_with_digits(Path("/tmp/deepq-bench-evaluate"))
    model_id = register_untrained(ws)
    paths = [c.image for c in scan_dataset(ws, "digits_2000").usable]

    start = time.perf_counter()
    predict(ws, model_id, paths)
    predict_s = time.perf_counter() - start

    start = time.perf_counter()
    result = evaluate_dataset(ws, model_id, "digits_2000")  # decodes every file into the cache first
    evaluate_cold_s = time.perf_counter() - start
    start = time.perf_counter()
    evaluate_dataset(ws, model_id, "digits_2000")  # again: the decoded cache is reused
    evaluate_s = time.perf_counter() - start
    return save(
        "evaluate_speed",
        {
            "images": len(paths),
            "predict_img_per_s": len(paths) / predict_s,
            "evaluate_first_img_per_s": result.metrics.cases / evaluate_cold_s,
            "evaluate_again_img_per_s": result.metrics.cases / evaluate_s,
            "speed_up_first": predict_s / evaluate_cold_s,
            "speed_up_again": predict_s / evaluate_s,
        },
    )
