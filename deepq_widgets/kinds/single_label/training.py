"""Single-label classification: a timm classifier, cross-entropy, ROC/PR/confusion and Grad-CAM."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...calibration import calibration
from ...contracts import CaseScores, Curve, Evaluation, Gallery, Metrics, Prediction
from ...training import metrics
from ...training.backbones import create_model
from ...training.ensemble import members_of
from ...training.kind_training import Accumulator, KindTraining, Said, top_cases
from ...training.operating_point import ChosenThreshold, chosen_threshold


class ClassificationAccumulator(Accumulator):
    """Scores (N, K) and truth; one-hot truth and decisions are what differ between the two kinds."""

    activation = "softmax"  # how logits become the scores (calibration.py judges them so)

    def reset(self) -> None:
        self.scores: list[np.ndarray] = []
        self.truth: list[np.ndarray] = []
        self.chosen: dict[int, ChosenThreshold] = {}  # by class (finding): how its threshold was chosen on these cases

    def add(self, pred: Any, yb: tuple) -> None:
        self.scores.append(self.activate(pred.float()).cpu().numpy())
        self.truth.append(yb[0].cpu().numpy())

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.softmax(1)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate(self.scores), np.concatenate(self.truth)

    def metrics(self, final: bool = False) -> Metrics:
        scores, truth = self.arrays()
        thresholds = self.operating_thresholds(scores, truth) if final else None
        threshold = thresholds[metrics.positive_index(self.classes)] if thresholds else None
        return metrics.single_label(scores, truth, self.classes, threshold, with_intervals=final)

    def operating_thresholds(self, scores: np.ndarray, truth: np.ndarray) -> list[float] | None:
        """Per class, where it is called: two classes at the operating point, more classes by argmax (None)."""
        if self.thresholds is not None or len(self.classes) != 2:
            return self.thresholds
        pos = metrics.positive_index(self.classes)
        self.chosen = {pos: chosen_threshold(truth == pos, scores[:, pos], self.operating_point)}
        t = self.chosen[pos].value
        return [t, 1 - t] if pos == 0 else [1 - t, t]

    def decisions(self, scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[float] | None, list[list[int]] | None]:
        """(one-hot truth, 0/1 decisions, thresholds, confusion matrix) at the operating point."""
        k, thresholds = len(self.classes), self.operating_thresholds(scores, truth)
        called = metrics.single_label_decisions(
            scores, self.classes, thresholds[metrics.positive_index(self.classes)] if thresholds else None
        )
        confusion = np.zeros((k, k), int)
        np.add.at(confusion, (truth, called), 1)
        return np.eye(k)[truth], np.eye(k)[called], thresholds, confusion.tolist()

    def evaluation(self, task: str, cases: list[str]) -> Evaluation:
        from sklearn.metrics import precision_recall_curve, roc_curve

        scores, truth = self.arrays()
        onehot, decided, thresholds, confusion = self.decisions(scores, truth)
        curves, gallery = {}, {}
        for k, name in enumerate(self.classes):
            if onehot[:, k].min() != onehot[:, k].max():
                fpr, tpr, _ = roc_curve(onehot[:, k], scores[:, k])
                prec, rec, _ = precision_recall_curve(onehot[:, k], scores[:, k])
                curves[name] = Curve(fpr=fpr.tolist(), tpr=tpr.tolist(), precision=prec.tolist(), recall=rec.tolist())
            said, real = decided[:, k] == 1, onehot[:, k] == 1
            gallery[name] = Gallery(
                tp=top_cases(np.where(said & real)[0], scores[:, k], descending=True),
                fp=top_cases(np.where(said & ~real)[0], scores[:, k], descending=True),
                fn=top_cases(np.where(~said & real)[0], scores[:, k], descending=False),
            )
        return Evaluation(
            task=task,
            classes=self.classes,
            metrics=self.metrics(final=True),
            cases=cases,
            thresholds=thresholds,
            per_class=self.with_threshold_intervals(metrics.per_class_table(scores, decided, onehot, self.classes, thresholds)),
            operating_note=" ".join((f"{self.classes[k]}: " if len(self.chosen) > 1 else "") + c.note for k, c in self.chosen.items()),
            curves=curves,
            confusion=confusion,
            gallery=gallery,
            calibration=calibration(scores, truth, self.activation, fit=self.calibrate),
            scores=self.case_scores(scores, truth, cases),
        )

    def with_threshold_intervals(self, rows: list[dict]) -> list[dict]:
        """Each chosen threshold with its interval over resamples (a two-class table: the other class's mirrored)."""
        for k, c in self.chosen.items():
            if c.interval is not None:
                rows[k]["intervals"]["threshold"] = c.interval
                if self.activation == "softmax" and len(self.classes) == 2:
                    rows[1 - k]["intervals"]["threshold"] = (1 - c.interval[1], 1 - c.interval[0])
        return rows

    def case_scores(self, scores: np.ndarray, truth: np.ndarray, cases: list[str]) -> CaseScores | None:
        """Each case's probabilities and given class (one class per case: findings have no single given label)."""
        if self.activation != "softmax":
            return None
        return CaseScores(cases=cases, classes=self.classes, truth=truth.tolist(), probabilities=np.round(scores, 6).tolist())


class SingleLabelTraining(KindTraining):
    ensemble_activation = "softmax"

    def build_model(self, arch, num_classes, in_chans, image_size, pretrain, workspace) -> nn.Module:
        return create_model(arch, num_classes=num_classes, in_chans=in_chans, pretrain=pretrain, workspace=workspace)

    def loss(self) -> nn.Module:
        return nn.CrossEntropyLoss()

    def targets(self, data, idx, theta, device) -> tuple:
        return (torch.from_numpy(data.labels[idx].argmax(1)).to(device),)

    def accumulator(self, classes) -> Accumulator:
        return ClassificationAccumulator(classes)

    def decide(self, scores: dict[str, float], thresholds: list[float] | None) -> str:
        """The class called at the model's operating point (two classes), else the most probable."""
        classes = list(scores)
        probs = np.array([[scores[c] for c in classes]])
        threshold = thresholds[metrics.positive_index(classes)] if thresholds and len(classes) == 2 else None
        return classes[int(metrics.single_label_decisions(probs, classes, threshold)[0])]

    def predict(self, model, x, classes, heatmap, thresholds) -> Said:
        """Scores per class, the call at the operating point and, when asked, a Grad-CAM heatmap of the top
        class on two scales (`grad_cam`; an ensemble's: the mean of its members' maps, each for the ensemble's top class)."""
        activate = self.accumulator(classes).activate
        with torch.no_grad():
            probs = activate(model(x))[0]
        scores = {c: float(p) for c, p in zip(classes, probs, strict=True)}
        top = int(probs.argmax())
        decision = self.decide(scores, thresholds)
        said = Said(Prediction(image="", summary=f"{classes[top]} {float(probs[top]):.2f} → {decision}", decision=decision, values=scores))
        if heatmap:
            cam = torch.stack([grad_cam(member, x, top) for member in members_of(model)]).mean(0)
            said.heatmap = normalised_map(cam)
        return said


def normalised_map(cam: torch.Tensor) -> np.ndarray:
    """A heatmap scaled to [0, 1] by its peak (all zeros stays all zeros)."""
    return (cam / cam.max() if float(cam.max()) > 0 else cam).numpy()


def grad_cam(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """Grad-CAM of class `target` at the input's size, on two scales: the last feature map (stride 32, where the
    class is decided, but a 128 px image is 4 x 4 cells of it) times the stage before it (stride 16, twice as
    fine; `finer_stage`), as a geometric mean, so a small finding is marked where it is rather than over a whole
    coarse cell. A network without such a stage keeps the last map's alone."""
    stage, kept = finer_stage(model), {}
    hook = stage.register_forward_hook(lambda module, args, out: kept.setdefault("out", out)) if stage is not None else None
    try:
        with torch.enable_grad():
            feats = model.forward_features(x)
            maps, finer = [feats], kept.get("out")
            if isinstance(finer, torch.Tensor) and finer.dim() == 4:
                maps.append(finer)
            grads = torch.autograd.grad(model.forward_head(feats)[0, target], maps)
    finally:
        if hook is not None:
            hook.remove()
    cams = [F.relu((g.mean((2, 3), keepdim=True) * a.detach()).sum(1))[0] for a, g in zip(maps, grads, strict=True)]
    cams = [F.interpolate(c[None, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0] for c in cams]
    if len(cams) == 1:
        return cams[0]
    coarse, fine = (c / c.max() if float(c.max()) > 0 else c for c in cams)
    return (coarse * fine).sqrt()


def finer_stage(model: nn.Module) -> nn.Module | None:
    """The stage at stride 16 of a timm network (`feature_info`: blocks.4 of an EfficientNet, layer3 of a ResNet),
    where its last feature map is coarser; None where there is none (a ViT's tokens are all stride 16)."""
    info = getattr(model, "feature_info", None) or []
    last = info[-1]["reduction"] if info else None
    name = next((f["module"] for f in reversed(info) if f.get("reduction") == 16), None)
    if name is None or last == 16:
        return None
    return model.get_submodule(name)
