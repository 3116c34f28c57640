"""Segmentation: a U-Net-style decoder on the timm encoder's feature levels, cross-entropy plus Dice."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...contracts import Evaluation, Gallery, Metrics, PerClassRow, Prediction
from ...training import metrics, pixel_metrics
from ...training.augment import warp_masks
from ...training.backbones import create_model
from ...training.kind_training import Accumulator, KindTraining, Said, top_cases

DECODER_CHANNELS = (96, 64, 48, 32)


class ConvBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """Encoder features at strides 2..32; the decoder upsamples and fuses the skips back to full size."""

    def __init__(self, encoder: nn.Module, out_classes: int):
        super().__init__()
        self.encoder = encoder
        chans = encoder.feature_info.channels()
        deepest, skips = chans[-1], chans[-2::-1]
        blocks, cin = [], deepest
        for skip, cout in zip(skips, DECODER_CHANNELS, strict=False):
            blocks.append(ConvBlock(cin + skip, cout))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(cin, out_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.encoder(x)
        y = feats[-1]
        for block, skip in zip(self.blocks, feats[-2::-1], strict=False):
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip], 1))
        return F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)


def segmentation_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Cross-entropy plus soft Dice over foreground classes: Dice keeps small organs from vanishing."""
    ce = F.cross_entropy(logits, masks)
    probs = logits.softmax(1)[:, 1:]
    onehot = F.one_hot(masks, logits.shape[1]).permute(0, 3, 1, 2)[:, 1:].float()
    inter = (probs * onehot).sum((0, 2, 3))
    dice = (2 * inter + 1) / (probs.sum((0, 2, 3)) + onehot.sum((0, 2, 3)) + 1)
    return ce + (1 - dice).mean()


class PixelAccumulator(Accumulator):
    """Pixel counts per image, so that the figures' intervals resample images, not pixels."""

    def reset(self) -> None:
        self.per_image: list[np.ndarray] = []

    def add(self, pred: Any, yb: tuple) -> None:
        said, real, k = pred.argmax(1).cpu().numpy(), yb[0].cpu().numpy(), len(self.classes) + 1
        self.per_image += [pixel_metrics.pixel_counts(p, t, k) for p, t in zip(said, real, strict=True)]

    def metrics(self, final: bool = False) -> Metrics:
        return self._final()[0] if final else pixel_metrics.segmentation(self._counts().sum(0), self.classes)

    def _counts(self) -> np.ndarray:
        return np.stack(self.per_image) if self.per_image else np.zeros((0, len(self.classes) + 1, 3), np.int64)

    def _final(self) -> tuple[Metrics, dict[str, dict]]:
        """The figures with their intervals, and each class's intervals (one bootstrap over images for both)."""
        counts = self._counts()
        headline, per_class = pixel_metrics.segmentation_intervals(counts, self.classes)
        return metrics.attach_intervals(pixel_metrics.segmentation(counts.sum(0), self.classes), headline, len(counts), {}), per_class

    def evaluation(self, task: str, cases: list[str]) -> Evaluation:
        found, per_class = self._final()
        rows = [PerClassRow(name=c, **found.per_class[c], intervals=per_class.get(c, {})) for c in self.classes]
        return Evaluation(task=task, classes=self.classes, metrics=found, cases=cases, per_class=rows, gallery=self.gallery())

    def gallery(self) -> dict[str, Gallery]:
        """Per class, the images where it was found (Dice at least 0.5: best first), drawn where the image has
        none (largest first), missed or barely found (Dice under 0.5: worst first), and the least well drawn of
        those it was found on (the lowest Dice at or above 0.5, each with its Dice): a model that finds every
        lesion still shows where its outlines are poorest."""
        if not self.per_image:
            return {}
        counts = np.stack(self.per_image)
        found = {}
        for k, name in enumerate(self.classes, start=1):
            tp, fp, fn = counts[:, k, 0], counts[:, k, 1], counts[:, k, 2]
            dice = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
            present, drawn = tp + fn > 0, tp + fp > 0
            poorest = top_cases(np.where(present & (dice >= 0.5) & (dice < 1.0))[0], dice, descending=False)
            found[name] = Gallery(
                tp=top_cases(np.where(present & (dice >= 0.5))[0], dice, descending=True),
                fp=top_cases(np.where(drawn & ~present)[0], fp.astype(float), descending=True),
                fn=top_cases(np.where(present & (dice < 0.5))[0], dice, descending=False),
                outcomes={"Found, least well drawn": poorest} if poorest else {},
                notes={i: f"Dice {dice[i]:.2f}" for i in poorest},
            )
        return found


class SegmentationTraining(KindTraining):
    def build_model(self, arch, num_classes, in_chans, image_size, pretrain, workspace) -> nn.Module:
        encoder = create_model(arch, num_classes=0, in_chans=in_chans, pretrain=pretrain, workspace=workspace, features_only=True)
        return UNet(encoder, num_classes + 1)

    def body_parameters(self, model: nn.Module):
        return model.encoder.parameters()

    def loss(self) -> Any:
        return segmentation_loss

    def targets(self, data, idx, theta, device) -> tuple:
        masks = torch.from_numpy(np.ascontiguousarray(data.masks[idx])).long()
        return ((warp_masks(masks, theta) if theta is not None else masks).to(device),)

    def accumulator(self, classes) -> Accumulator:
        return PixelAccumulator(classes)

    def predict(self, model, x, classes, heatmap, thresholds) -> Said:
        with torch.no_grad():
            mask = model(x).argmax(1)[0]
        areas = {c: float((mask == k + 1).float().mean()) for k, c in enumerate(classes)}
        summary = ", ".join(f"{c} {a:.1%}" for c, a in areas.items())
        return Said(Prediction(image="", summary=summary, values=areas), mask=mask.numpy().astype(np.uint8))
