"""Issue 27: peak memory of a prediction run with heatmaps and of the detection bootstrap, as the number of images
grows to 10⁵: `.venv/bin/python -m benchmarks memory_at_scale`.

- `predict`: `predict_to_files` with heatmaps written as PNG files, over N images of 32 px (scikit-learn's digits),
  a registered untrained tf_efficientnet_lite0 (memory does not depend on the weights' values); 1 thread.
- `bootstrap`: `detection_intervals` (1,000 resamples over images, each class matched once) for N images with 4
  detections each (10⁵ images: 4·10⁵ detections), and the macro AUROC's bootstrap of a 3-class task over N cases.
Each size runs in a process of its own (forked); its peak RSS (ru_maxrss) is the figure. Bounded memory: the peak
grows with N only by the rows kept (a prediction's row, a detection's match), not by arrays per image.
"""

from __future__ import annotations

import multiprocessing
import resource
import shutil
import time
from pathlib import Path

import numpy as np

from .common import save, threads
from .evaluate_speed import register_untrained

ROOT = Path("/tmp/deepq-bench-memory")
SIZES = (1_000, 10_000, 100_000)
SIDE = 32


def write_images(ws, count: int) -> list[Path]:
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder = ws.root / "many"
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{i:06d}.png"
        if not path.is_file():
            pixels = (digits.images[i % len(digits.images)] / 16 * 255).astype(np.uint8)
            Image.fromarray(pixels).resize((SIDE, SIDE), Image.BILINEAR).save(path)
        paths.append(path)
    return paths


def in_own_process(job, *args) -> dict:
    """`job(*args)` in a forked process: its result and the process's peak RSS in MiB."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()

    def run() -> None:
        start = time.perf_counter()
        result = job(*args)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        queue.put({**result, "seconds": time.perf_counter() - start, "peak_rss_mib": peak})

    process = context.Process(target=run)
    process.start()
    found = queue.get()
    process.join()
    return found


def predict_run(ws, model_id: str, paths: list[Path]) -> dict:
    from deepq_widgets.training.export import predict_to_files

    threads(1)
    shutil.rmtree(ws.root / "overlays", ignore_errors=True)
    rows = predict_to_files(ws, model_id, [str(p) for p in paths], overlays="overlays")
    return {"images": len(rows), "heatmaps": sum(1 for r in rows if r.heatmap_file)}


def bootstrap_run(count: int) -> dict:
    from deepq_widgets.training.box_metrics import detection, detection_intervals
    from deepq_widgets.training.metrics import single_label

    rng = np.random.default_rng(0)
    targets, preds = [], []
    for _ in range(count):
        x, y = rng.uniform(0, 200, 2)
        truth = np.array([[x, y, x + 20, y + 20]])
        boxes = truth + rng.normal(0, 6, (4, 4))
        targets.append({"boxes": truth, "labels": np.array([1])})
        preds.append({"boxes": boxes, "labels": np.array([1, 1, 1, 1]), "scores": rng.uniform(0, 1, 4)})
    found = detection(preds, targets, ["nodule"])
    start = time.perf_counter()
    detection_intervals(preds, targets, ["nodule"], found)
    detection_s = time.perf_counter() - start
    truth = rng.integers(0, 3, count)
    probs = rng.dirichlet(np.ones(3), count) * 0.5 + np.eye(3)[truth] * 0.5
    start = time.perf_counter()
    single_label(probs, truth, ["a", "b", "c"], with_intervals=True)
    return {"detections": 4 * count, "detection_bootstrap_s": detection_s, "auroc_bootstrap_s": time.perf_counter() - start}


def main() -> dict:
    from deepq_widgets.workspace import WorkspacePaths

    ws = WorkspacePaths(ROOT)
    model_id = "memory-scale"
    if not (ws.models / model_id).is_dir():
        register_untrained(ws, model_id, ["a", "b", "c"], SIDE)
    paths = write_images(ws, max(SIZES))
    out = {}
    for count in SIZES:
        out[f"predict_{count}"] = in_own_process(predict_run, ws, model_id, paths[:count])
        out[f"bootstrap_{count}"] = in_own_process(bootstrap_run, count)
        print(count, out[f"predict_{count}"], out[f"bootstrap_{count}"], flush=True)
    return save("memory_at_scale", out)
