"""Object detection: torchvision FCOS on a timm feature backbone with a small FPN (strides 8/16/32).

FCOS trains well on a CPU (Faster R-CNN was about 4x slower per step here). fastai keeps the
targets in `yb` (so it runs backward and metrics); `DetectionTargets` hands them to the
detector before each forward pass. The detector's post-processing is Python, so it exports
as safetensors only.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import torch
from fastai.callback.core import Callback
from torch import nn

from ...contracts import Curve, Evaluation, FoundBox, Gallery, Metrics, PerClassRow, Prediction
from ...training import box_metrics, metrics
from ...training.augment import warp_boxes
from ...training.backbones import create_model
from ...training.kind_training import GALLERY, Accumulator, KindTraining, Said
from ...zoo import get

FPN_CHANNELS = 64
PREDICT_MIN_SCORE = 0.3


class TimmFPN(nn.Module):
    """A timm `features_only` body plus a 64-channel FPN, shaped as torchvision's detectors expect."""

    def __init__(self, body: nn.Module):
        super().__init__()
        from torchvision.ops import FeaturePyramidNetwork

        self.body = body
        self.fpn = FeaturePyramidNetwork(body.feature_info.channels(), FPN_CHANNELS)
        self.out_channels = FPN_CHANNELS

    def forward(self, x: torch.Tensor) -> OrderedDict:
        return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(self.body(x))))


class Detector(nn.Module):
    """FCOS that takes a batch tensor; targets arrive through `self.targets` (set per batch).

    Training mode returns the loss dict. Eval mode returns the detections and, when targets
    are set, the losses too, so validation loss and mAP come from the same pass over the data.
    """

    def __init__(self, body: nn.Module, num_classes: int, image_size: int, in_chans: int):
        super().__init__()
        from torchvision.models.detection import FCOS
        from torchvision.models.detection.anchor_utils import AnchorGenerator

        anchors = AnchorGenerator(sizes=((8,), (16,), (32,)), aspect_ratios=((1.0,),) * 3)  # FCOS: one anchor per stride
        self.fcos = FCOS(
            TimmFPN(body),
            num_classes=num_classes + 1,
            min_size=image_size,
            max_size=image_size,  # or torchvision rescales to 800 px
            image_mean=[0.0] * in_chans,
            image_std=[1.0] * in_chans,  # the loader has normalised already
            anchor_generator=anchors,
            score_thresh=0.05,
            detections_per_img=50,
        )
        self.targets: list[dict[str, torch.Tensor]] | None = None

    def forward(self, x: torch.Tensor) -> Any:
        images = list(x)
        if self.training:
            return self.fcos(images, self.targets)
        out: dict[str, Any] = {"detections": self.fcos(images)}
        if self.targets is not None:
            self.fcos.training = True  # losses only; submodules stay in eval mode
            try:
                out["losses"] = self.fcos(images, self.targets)
            finally:
                self.fcos.training = False
        return out


class DetectionTargets(Callback):
    """Hands each batch's boxes to the detector before the forward pass."""

    order = -5

    def before_batch(self) -> None:
        self.learn.model.targets = self.learn.yb[1]

    def after_fit(self) -> None:
        self.learn.model.targets = None


def detection_loss(pred: Any, counts: torch.Tensor, targets: list) -> torch.Tensor:
    losses = pred.get("losses", pred)
    return sum(losses.values())


class DetectionAccumulator(Accumulator):
    def reset(self) -> None:
        self.dets: list[dict[str, np.ndarray]] = []
        self.boxes: list[dict[str, np.ndarray]] = []

    def add(self, pred: Any, yb: tuple) -> None:
        self.dets += [{k: v.detach().float().cpu().numpy() for k, v in d.items()} for d in pred["detections"]]
        self.boxes += [{k: v.cpu().numpy() for k, v in t.items()} for t in yb[1]]

    def metrics(self, final: bool = False) -> Metrics:
        return self._final()[0] if final else box_metrics.detection(self.dets, self.boxes, self.classes)

    def _final(self) -> tuple[Metrics, dict[str, dict]]:
        """The figures with their intervals, and each class's intervals (one bootstrap for both)."""
        found = box_metrics.detection(self.dets, self.boxes, self.classes)
        interval, per_class = box_metrics.detection_intervals(self.dets, self.boxes, self.classes, found)
        return metrics.attach_intervals(found, {"map50": interval} if interval else {}, len(self.dets), {}), per_class

    def evaluation(self, task: str, cases: list[str]) -> Evaluation:
        found, per_class = self._final()
        curves, table, gallery = {}, [], {}
        for k, name in enumerate(self.classes, start=1):
            ap, recall, precision = box_metrics.average_precision(self.dets, self.boxes, k)
            if ap is None:
                continue
            n_truth = sum((t["labels"] == k).sum() for t in self.boxes)
            fp_per_image = (np.arange(1, len(recall) + 1) - recall * n_truth) / max(len(self.dets), 1)
            curves[name] = Curve(recall=recall.tolist(), precision=precision.tolist(), fp_per_image=fp_per_image.tolist())
            row = PerClassRow(name=name, ap50=ap, recall=float(recall[-1]) if len(recall) else 0.0, intervals=per_class.get(name, {}))
            table.append(row)
            gallery[name] = self._gallery(k)
        return Evaluation(
            task=task,
            classes=self.classes,
            metrics=found,
            cases=cases,
            per_class=table,
            curves=curves,
            gallery=gallery,
        )

    def _gallery(self, label: int, score: float = 0.3) -> Gallery:
        tp, fp, fn = [], [], []
        for i, (det, truth) in enumerate(zip(self.dets, self.boxes, strict=True)):
            boxes = det["boxes"][(det["labels"] == label) & (det["scores"] >= score)]
            gt = truth["boxes"][truth["labels"] == label]
            ious = box_metrics.box_iou(boxes, gt)
            hit = ious.max(1) >= 0.5 if len(gt) else np.zeros(len(boxes), bool)
            found = ious.max(0) >= 0.5 if len(boxes) else np.zeros(len(gt), bool)
            if len(boxes):
                (tp if hit.any() else fp).append(i)
            if len(gt) and not found.all():
                fn.append(i)
        return Gallery(tp=tp[:GALLERY], fp=fp[:GALLERY], fn=fn[:GALLERY])


class DetectionTraining(KindTraining):
    channels_last = False
    export_formats = ("safetensors",)

    def build_model(self, arch, num_classes, in_chans, image_size, pretrain, workspace) -> nn.Module:
        reductions = list(get(arch).reductions)
        levels = tuple(reductions.index(s) for s in (8, 16, 32))
        body = create_model(
            arch, num_classes=0, in_chans=in_chans, pretrain=pretrain, workspace=workspace, features_only=True, out_indices=levels
        )
        return Detector(body, num_classes, image_size, in_chans)

    def body_parameters(self, model: nn.Module):
        return model.fcos.backbone.body.parameters()

    def loss(self) -> Any:
        return detection_loss

    def targets(self, data, idx, theta, device) -> tuple:
        """(box counts, [{'boxes': xyxy, 'labels': 1..K}]): the counts give fastai a batch size to average by."""
        size = data.images.shape[1]
        targets = []
        for row, i in enumerate(idx):
            boxes = data.boxes[i]
            xyxy = torch.tensor([[b.x, b.y, b.x + b.w, b.y + b.h] for b in boxes], dtype=torch.float32).reshape(-1, 4)
            labels = torch.tensor([data.classes.index(b.label) + 1 for b in boxes], dtype=torch.int64)
            if theta is not None:
                xyxy, keep = warp_boxes(xyxy, theta[row], size)
                labels = labels[keep]
            targets.append({"boxes": xyxy.to(device), "labels": labels.to(device)})
        counts = torch.tensor([len(t["labels"]) for t in targets], device=device)
        return counts, targets

    def callbacks(self) -> list:
        return [DetectionTargets()]

    def forward(self, model: nn.Module, x: torch.Tensor, yb: tuple) -> Any:
        model.targets = yb[1]
        try:
            return model(x)
        finally:
            model.targets = None

    def accumulator(self, classes) -> Accumulator:
        return DetectionAccumulator(classes)

    def predict(self, model, x, classes, heatmap, thresholds) -> Said:
        with torch.no_grad():
            det = model(x)["detections"][0]
        found = [
            FoundBox(label=classes[int(c) - 1], score=float(s), box=[float(v) for v in b])
            for b, c, s in zip(det["boxes"], det["labels"], det["scores"], strict=True)
            if s >= PREDICT_MIN_SCORE
        ]
        summary = f"{len(found)} box{'es' * (len(found) != 1)}" + (f", best {max(b.score for b in found):.2f}" if found else "")
        counts = {c: float(sum(b.label == c for b in found)) for c in classes}
        return Said(Prediction(image="", summary=summary, values=counts, boxes=found))
