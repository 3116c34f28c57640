"""Studies, not slices (issue 23): on study-labelled CT series, today's behaviour against the study-level models,
scored per study on the same held-out studies, over three draws of the training studies.

- `slices`: what a series folder became before: one case per slice carrying its study's label (a single-label
  task on a label file that names every slice), the study's score the largest of its slices' P(PE);
- `attention`: the study classification kind as Auto plans it (a slice encoder, gated-attention pooling,
  trained end to end on the study label);
- `max`: the same with max pooling over the slices: the attention arm's plan as run (its `ran_as` task file,
  Full Manual), the pooling changed (Auto plans attention on study labels);
- `context`: the same studies with every slice labelled as well (PE where the embolus shows), the attention
  arm's plan as run read as 2.5D: each slice with its neighbours (one each side), trained on the slice labels and
  the study's, the study its least normal slice.

Every arm trains through the product (`run_task`), Auto for `slices` and `attention`, in a forked process of
its own so that its peak memory (ru_maxrss) is its own. Data: the chest CT demo generator, 60 training
studies of 24 slices per draw (an embolus on 4 to 7 contiguous slices of half of them), 60 test studies.
"""

from __future__ import annotations

import multiprocessing
import resource
import shutil
import time
from pathlib import Path

import numpy as np

from .common import demo_workspace, save, threads
from .learning import run_auto, spec_for

TRAIN, TEST, SLICES = 60, 60, 24
DRAWS = (0, 1, 2)


def make(ws, draw: int) -> None:
    from deepq_widgets.data.demo.chest_ct import generate

    for name, count, seed, labelled in (
        ("pe_studies", TRAIN, 100 + draw, False),
        ("pe_labelled", TRAIN, 100 + draw, True),  # the same images (the same seed), every slice labelled too
        ("pe_studies_test", TEST, 999, False),
    ):
        folder = ws.datasets / name
        shutil.rmtree(folder, ignore_errors=True)
        generate(folder, np.random.default_rng(seed), studies=count, slices=SLICES, slice_labels=labelled)
    sliced = ws.datasets / "pe_slices"  # the same files, each slice a case labelled with its study's class
    shutil.rmtree(sliced, ignore_errors=True)
    shutil.copytree(ws.datasets / "pe_studies", sliced)
    rows = [line.split(",") for line in (sliced / "label.csv").read_text().splitlines()[1:]]
    lines = [f"{study}/{f.name},{label}" for study, label in rows for f in sorted((sliced / study).iterdir())]
    (sliced / "label.csv").write_text("path,class\n" + "\n".join(lines) + "\n")


def study_auroc(scores: np.ndarray, truth: np.ndarray) -> dict:
    """Study-level AUROC of P(PE) with its DeLong 95% interval."""
    from deepq_widgets.training.metrics import single_label

    classes = ["PE", "normal"]
    probs = np.stack([scores, 1 - scores], axis=1)
    m = single_label(probs, truth, classes, with_intervals=True)
    return {"auroc": m.headline["auroc"], "auroc_ci": list(m.intervals["auroc"])}


def test_scores(ws, model_id: str, per_slice: bool) -> tuple[np.ndarray, np.ndarray]:
    """P(PE) of every test study: the model's study score, or the largest of its slices' (`per_slice`)."""
    import torch

    from deepq_widgets.data.cache import build_cache
    from deepq_widgets.data.catalog import scan_dataset
    from deepq_widgets.training.loaders import normalise, to_unit
    from deepq_widgets.training.registry import load_model

    model, card = load_model(ws, model_id)
    model.eval()
    info = scan_dataset(ws, "pe_studies_test")
    data = build_cache(info, ws.root / "cache", card.image_size, card.windows, channels=card.channels)
    pe = card.classes.index("PE")
    scores = []
    with torch.no_grad():
        for i in range(len(data.cases)):
            x = normalise(to_unit(torch.from_numpy(np.ascontiguousarray(data.images[data.slices[i]]))), card.mean, card.std)
            if per_slice:
                scores.append(float(model(x).softmax(1)[:, pe].max()))
            else:
                scores.append(float(model(x[None]).softmax(1)[0, pe]))
    truth = np.array([0 if c.labels == ("PE",) else 1 for c in data.cases])
    return np.array(scores), truth


def attention_plan(ws, draw: int) -> dict:
    """The task file the attention arm of this draw ran as (Auto's plan, as Full Manual)."""
    from deepq_widgets.contracts import PlanEvent
    from deepq_widgets.store import Store

    store = Store(ws.db_path)
    task = next(t for t in reversed(store.tasks()) if t.name.startswith(f"bench-attention-{draw}-") and t.state == "finished")
    return store.events(task.id, PlanEvent)[-1].ran_as.model_dump(mode="json")


def arm(ws_root: str, name: str, draw: int, queue) -> None:
    """One arm, in its own process: train, score the test studies, report wall time and peak memory."""
    from deepq_widgets.workspace import WorkspacePaths

    threads(2)
    ws = WorkspacePaths(Path(ws_root))
    dataset = {"slices": "pe_slices", "context": "pe_labelled"}.get(name, "pe_studies")
    task = "single_label" if name == "slices" else "study_label"
    args = ["--flow", "general", "--task", task, "--dataset", dataset, "--model", "tf_efficientnet_lite0.in1k", "--seed", str(draw)]
    args += ["--image-size", "128", "--tuning", "auto"]  # Auto plans; the network is the same for every arm
    spec = spec_for(ws, args, f"bench-{name}-{draw}-{time.time():.0f}")
    if name in ("max", "context"):  # the attention arm's plan as run, read another way
        spec = attention_plan(ws, draw) | {"name": spec["name"], "dataset": dataset}
        spec["hyper"]["study_model"] = name
    row, wall, _ = run_auto(ws, spec)
    assert row.state == "finished", row.error
    scores, truth = test_scores(ws, row.model_id, per_slice=name == "slices")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(study_auroc(scores, truth) | {"wall_s": wall, "peak_mib": peak_mib, "epochs_run": row.epoch})


def run_arm(ws, name: str, draw: int) -> dict:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=arm, args=(str(ws.root), name, draw, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


ARMS = ("slices", "attention", "max", "context")


def main(draws: tuple[int, ...] = DRAWS, arms: tuple[str, ...] = ARMS) -> dict:
    """`arms`: a subset to run ("max" and "context" need "attention" of the same draw run before them, here or earlier)."""
    ws = demo_workspace(Path("/tmp/deepq-bench-studies"))
    results: dict[str, dict] = {}
    for draw in draws:
        make(ws, draw)
        results[f"draw {draw}"] = {name: run_arm(ws, name, draw) for name in arms}
        print(results[f"draw {draw}"], flush=True)
    return save("studies", results)


if __name__ == "__main__":
    main()
