"""Likely label errors of a task's dataset, by confident learning (Northcutt et al., 2021; cleanlab): a case is
suspect when out-of-sample predictions give another class confidently, beyond what that class's own cases get.

The predictions must come from models that never trained on the case they judge: an ensemble's out-of-fold
probabilities (`case_scores.json`), or else a quick cross-validated fit: a logistic regression on the features the
task's network had before it saw the data (its ImageNet weights), five folds grouped by patient. Features from the
fine-tuned network would have learnt the very labels being judged.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from .. import kinds
from ..contracts import CaseScores, LabelIssue, LabelIssues, ModelCard
from ..data.cache import build_cache
from ..data.catalog import DatasetInfo, scan_dataset
from ..data.corrections import case_name
from ..evaluations import LABEL_ISSUES, read_case_scores
from ..files import atomic_write_text
from ..spec import TaskSpec
from ..workspace import WorkspacePaths
from .backbones import create_model
from .loaders import BatchLoader

FOLDS = 5
FILTER = "confident_learning"  # benchmarks/README.md, "Know your labels": precision 0.71 / 0.81 against 0.61 / 0.74, same recall
BATCH = 64
Progress = Callable[[str, int, int], None]


class LabelIssuesRefused(ValueError):
    """This task's labels cannot be judged; the message says why."""


def find_label_issues(
    workspace: WorkspacePaths, task_id: int, spec: TaskSpec, card: ModelCard, progress: Progress | None = None
) -> LabelIssues:
    """The task's likely label errors, most suspect first, kept in `tasks/<id>/label_issues.json`."""
    from cleanlab.filter import find_label_issues as confident_learning

    kind = kinds.get(spec.task)
    if not kind.label_review:
        raise LabelIssuesRefused(f"{kind.title.lower()} has no single label per case to judge")
    info = scan_dataset(workspace, spec.dataset, corrected=spec.label_corrections)
    folder = workspace.task_dir(task_id)
    scores = read_case_scores(folder)
    if scores is not None and scores.out_of_fold:
        source = f"the out-of-fold probabilities of the task's {card.members}-network ensemble"
    else:
        scores = cross_validated_scores(workspace, info, card, progress)
        source = f"a {FOLDS}-fold logistic regression on the ImageNet features of {card.arch} (folds grouped by patient)"
    names = {c.shown: case_name(c, info.path) for c in info.usable}
    judged = [names.get(case, case) for case in scores.cases]  # as the dataset names them, and its corrections file
    probs, truth = np.asarray(scores.probabilities), np.asarray(scores.truth)
    # the off-diagonal of the confident joint: the filter that flagged fewer right labels at equal recall (trust2)
    ranked = confident_learning(labels=truth, pred_probs=probs, filter_by=FILTER, return_indices_ranked_by="self_confidence")
    others = np.where(np.eye(len(scores.classes), dtype=bool)[truth], -1.0, probs)  # the most likely class but the given one
    issues = [
        LabelIssue(
            case=judged[i],
            shown=scores.cases[i],
            given=scores.classes[truth[i]],
            suggested=scores.classes[int(others[i].argmax())],
            confidence=float(others[i].max()),
            given_probability=float(probs[i, truth[i]]),
        )
        for i in ranked
    ]
    found = LabelIssues(task_id=task_id, dataset=spec.dataset, source=source, examined=len(truth), issues=issues, created=time.time())
    atomic_write_text(found.model_dump_json(indent=2), folder / LABEL_ISSUES)
    return found


def cross_validated_scores(workspace: WorkspacePaths, info: DatasetInfo, card: ModelCard, progress: Progress | None) -> CaseScores:
    """Out-of-fold probabilities for every usable case: pretrained features, then a logistic regression per fold."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    report = (lambda stage: lambda done, total: progress(stage, done, total)) if progress else (lambda stage: None)
    data = build_cache(info, workspace.root / "cache", card.image_size, card.windows, channels=card.channels, progress=report("decoding"))
    truth = data.labels.argmax(1)
    smallest = int(np.bincount(truth, minlength=len(data.classes)).min())
    if smallest < 2:
        raise LabelIssuesRefused("every class needs at least two cases for a cross-validated fit")
    features = pretrained_features(workspace, data, card, report("encoding"))
    groups = [c.patient or c.study or str(i) for i, c in enumerate(data.cases)]
    folds = StratifiedGroupKFold(n_splits=min(FOLDS, smallest), shuffle=True, random_state=0)
    fit = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    probs = cross_val_predict(fit, features, truth, groups=groups, cv=folds, method="predict_proba")
    return CaseScores(
        cases=[c.shown for c in data.cases], classes=data.classes, truth=truth.tolist(), probabilities=probs.tolist(), out_of_fold=True
    )


def pretrained_features(workspace: WorkspacePaths, data, card: ModelCard, progress: Callable[[int, int], None] | None) -> np.ndarray:
    """Each case's pooled features from the task's network with its pretrained weights and no head."""
    network = create_model(card.arch, num_classes=0, in_chans=card.channels, pretrain="default", workspace=workspace).eval()
    every = list(range(len(data.cases)))
    loader = BatchLoader(data, every, lambda *args: (), BATCH, card.mean, card.std)
    found, done = [], 0
    with torch.no_grad():
        for batch in loader:
            found.append(network(batch[0]).float().numpy())
            done += len(batch[0])
            if progress is not None:
                progress(done, len(every))
    return np.concatenate(found)
