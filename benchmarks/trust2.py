"""Issue 24: know your labels and your model, measured on real images over several draws.

Two-class tasks, since the operating point is a two-class question: scikit-learn's digits 3 against 8 (the hard
pair) and scikit-image's lfw faces against non-faces. For each draw, 100 training cases (stratified), every other
case the independent test set; Auto run by a real worker with one thread (`benchmarks/trust.py`'s helpers). Then:
- the operating point: the threshold the product registered (training/operating_point.py) against the plain argmax
  and against Youden's J chosen once on the validation cases (what the product did before), on the test cases;
- calibration: the test set's expected calibration error with and without the model's temperature;
- early stopping: the same task file as run, without early stop (every planned epoch, the best kept), test AUROC;
- label errors: 10% of the whole pool's labels flipped on purpose; precision and recall of the flagged cases
  (`find_label_issues`: cleanlab's confident-learning filter on our out-of-sample predictions), against cleanlab's
  other filters on the very same predictions.

Run: `.venv/bin/python -m benchmarks trust2` (about 15 minutes on 2 cores).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from .common import save
from .trust import auto_test_probs, digits, faces, lay_out_draw, run_task_file, task_file, write_folder

DRAWS, FLIPPED = 5, 0.1


def hard_pair() -> tuple[list[np.ndarray], list[str]]:
    images, labels = digits()
    kept = [i for i, label in enumerate(labels) if label in ("3", "8")]
    return [images[i] for i in kept], [labels[i] for i in kept]


DATASETS = {"digits_3_vs_8": hard_pair, "faces": faces}


def at(probs: np.ndarray, truth: np.ndarray, threshold: float, pos: int) -> dict:
    said = probs[:, pos] >= threshold
    real = truth == pos
    return {
        "threshold": float(threshold),
        "accuracy": float((said == real).mean()),
        "sensitivity": float(said[real].mean()),
        "specificity": float((~said[~real]).mean()),
    }


def one_draw(ws, name: str, images: list[np.ndarray], labels: list[str], seed: int) -> dict:
    from sklearn.metrics import roc_auc_score

    from deepq_widgets.calibration import calibration
    from deepq_widgets.contracts import Evaluation, PlanEvent
    from deepq_widgets.evaluations import read_case_scores
    from deepq_widgets.training.metrics import operating_threshold, positive_index

    classes, _, _, dataset, files, truth = lay_out_draw(ws, name, images, labels, seed)
    row, wall, store = run_task_file(ws, task_file(ws, dataset, f"{dataset}-{time.time():.0f}"))
    pos = positive_index(classes)
    evaluation = Evaluation.model_validate_json((ws.task_dir(row.id) / "evaluation.json").read_text())
    valid = read_case_scores(ws.task_dir(row.id))
    v_probs, v_truth = np.asarray(valid.probabilities), np.asarray(valid.truth)
    raw = auto_test_probs(ws, row.model_id, files, calibrated=False)
    calibrated = auto_test_probs(ws, row.model_id, files)
    youden_once = operating_threshold(v_truth == pos, v_probs[:, pos])
    # the same task file as run, without early stop: every planned epoch, the best epoch's weights kept
    again = store.events(row.id, PlanEvent)[-1].ran_as.model_dump(mode="json")
    again["name"] += " no early stop"
    again["hyper"]["early_stop"] = False
    full_row, full_wall, _ = run_task_file(ws, again)
    full = auto_test_probs(ws, full_row.model_id, files, calibrated=False)
    return {
        "validation_cases": len(v_truth),
        "test_cases": len(truth),
        "auto": {"auroc": float(roc_auc_score(truth == pos, raw[:, pos])), "wall_s": wall, "epochs": row.epoch},
        "no_early_stop": {"auroc": float(roc_auc_score(truth == pos, full[:, pos])), "wall_s": full_wall, "epochs": full_row.epoch},
        "operating_point": {
            "registered": at(raw, truth, evaluation.thresholds[pos], pos) | {"note": evaluation.operating_note},
            "argmax": at(raw, truth, 0.5, pos),
            "youden_once": at(raw, truth, youden_once, pos),
        },
        "calibration": {
            "temperature": evaluation.calibration.temperature,
            "validation_note": evaluation.calibration.note,
            "test_ece_raw": calibration(raw, truth, "softmax", fit=False).ece,
            "test_ece_calibrated": calibration(calibrated, truth, "softmax", fit=False).ece,
        },
        "model_id": row.model_id,
    }


def label_errors(ws, name: str, images: list[np.ndarray], labels: list[str], model_id: str, seed: int = 0) -> dict:
    """Flip `FLIPPED` of the pool's labels, then find them with the product, and with cleanlab's other filters."""
    from cleanlab.filter import find_label_issues as cleanlab_filter

    from deepq_widgets.evaluations import read_card
    from deepq_widgets.spec import TaskSpec
    from deepq_widgets.training.label_issues import cross_validated_scores, find_label_issues

    rng = np.random.default_rng(seed)
    classes = sorted(set(labels))
    noisy = list(labels)
    flipped = rng.choice(len(labels), size=round(FLIPPED * len(labels)), replace=False)
    for i in flipped:
        noisy[i] = rng.choice([c for c in classes if c != labels[i]])
    dataset = f"{name}_noisy"
    write_folder(ws.datasets / dataset, images, noisy, np.arange(len(labels)))
    wrong = {f"{noisy[i]}/{i}.png" for i in flipped}
    card = read_card(ws, model_id)
    task_id = 10_000 + seed
    ws.task_dir(task_id).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    found = find_label_issues(ws, task_id, TaskSpec(name="noisy", dataset=dataset, task="single_label"), card)
    seconds = time.perf_counter() - start
    flagged = {i.case for i in found.issues}
    out = {"pool": len(labels), "flipped": len(wrong), "seconds": seconds, "product": _precision_recall(flagged, wrong)}
    from deepq_widgets.data.catalog import scan_dataset

    info = scan_dataset(ws, dataset)
    scores = cross_validated_scores(ws, info, card, None)  # the same predictions, judged by cleanlab's other filters
    names = [Path(c).relative_to(info.path).as_posix() for c in scores.cases]
    for method in ("prune_by_noise_rate", "predicted_neq_given", "prune_by_class"):
        mask = cleanlab_filter(labels=np.asarray(scores.truth), pred_probs=np.asarray(scores.probabilities), filter_by=method)
        out[f"cleanlab_{method}"] = _precision_recall({names[i] for i in np.flatnonzero(mask)}, wrong)
    return out


def _precision_recall(flagged: set[str], wrong: set[str]) -> dict:
    hits = len(flagged & wrong)
    return {"flagged": len(flagged), "precision": hits / max(1, len(flagged)), "recall": hits / max(1, len(wrong))}


def main(only: tuple[str, ...] = ()) -> dict:
    from deepq_widgets.workspace import WorkspacePaths

    root = Path("/tmp/deepq-bench-trust2")
    shutil.rmtree(root, ignore_errors=True)
    ws = WorkspacePaths(root)
    results: dict = {}
    for name, load in DATASETS.items():
        if only and name not in only:
            continue
        images, labels = load()
        draws = [one_draw(ws, name, images, labels, seed) for seed in range(DRAWS)]
        results[name] = {"draws": draws, "summary": summary(draws)}
        results[name]["label_errors"] = label_errors(ws, name, images, labels, draws[0]["model_id"])
        save("trust2", results)
    return save("trust2", results)


def summary(draws: list[dict]) -> dict:
    def figures(path: tuple[str, ...]) -> list[float]:
        out = []
        for d in draws:
            value = d
            for key in path:
                value = value[key]
            out.append(value)
        return out

    out = {}
    for rule in ("registered", "argmax", "youden_once"):
        for figure in ("accuracy", "sensitivity", "specificity"):
            values = figures(("operating_point", rule, figure))
            out[f"{rule}_{figure}_mean"], out[f"{rule}_{figure}_worst"] = float(np.mean(values)), float(np.min(values))
    for run in ("auto", "no_early_stop"):
        values = figures((run, "auroc"))
        out[f"{run}_auroc_mean"], out[f"{run}_auroc_worst"] = float(np.mean(values)), float(np.min(values))
        out[f"{run}_wall_s_mean"] = float(np.mean(figures((run, "wall_s"))))
    for key in ("test_ece_raw", "test_ece_calibrated"):
        out[key + "_mean"] = float(np.mean(figures(("calibration", key))))
    out["temperature_kept"] = sum(d["calibration"]["temperature"] is not None for d in draws)
    return out


if __name__ == "__main__":
    print(json.dumps(main(tuple(sys.argv[1:])), indent=1)[:2000])
