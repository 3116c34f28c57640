"""Networks per task kind, all on timm backbones from the zoo.

- classification: the timm model with its own head;
- segmentation: a U-Net-style decoder on the timm encoder's five feature levels;
- detection: torchvision FCOS on a timm feature backbone with a small FPN (strides 8/16/32),
  which trains well on a CPU (Faster R-CNN was about 4x slower per step here).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import zoo
from ..workspace import Workspace

FPN_CHANNELS = 64
DECODER_CHANNELS = (96, 64, 48, 32)


def build_model(
    task: str, arch: str, num_classes: int, in_chans: int, image_size: int, pretrain: str, workspace: Workspace | None
) -> nn.Module:
    """The network for `task`; pretrained unless pretrain='none'."""
    if task in ("single_label", "multi_label"):
        return zoo.create_model(arch, num_classes=num_classes, in_chans=in_chans, pretrain=pretrain, workspace=workspace)
    if task == "segmentation":
        encoder = zoo.create_model(arch, num_classes=0, in_chans=in_chans, pretrain=pretrain, workspace=workspace, features_only=True)
        return UNet(encoder, num_classes + 1)
    if task == "detection":
        body = zoo.create_model(
            arch,
            num_classes=0,
            in_chans=in_chans,
            pretrain=pretrain,
            workspace=workspace,
            features_only=True,
            out_indices=_stride_levels(arch),
        )
        return Detector(body, num_classes, image_size, in_chans)
    raise ValueError(f"unknown task type {task!r}")


def _stride_levels(arch: str) -> tuple[int, ...]:
    reductions = list(zoo.get(arch).reductions)
    return tuple(reductions.index(s) for s in (8, 16, 32))


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


def detection_loss(pred: Any, counts: torch.Tensor, targets: list) -> torch.Tensor:
    losses = pred.get("losses", pred)
    return sum(losses.values())


def segmentation_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Cross-entropy plus soft Dice over foreground classes: Dice keeps small organs from vanishing."""
    ce = F.cross_entropy(logits, masks)
    probs = logits.softmax(1)[:, 1:]
    onehot = F.one_hot(masks, logits.shape[1]).permute(0, 3, 1, 2)[:, 1:].float()
    inter = (probs * onehot).sum((0, 2, 3))
    dice = (2 * inter + 1) / (probs.sum((0, 2, 3)) + onehot.sum((0, 2, 3)) + 1)
    return ce + (1 - dice).mean()


def loss_for(task: str):
    return {
        "single_label": nn.CrossEntropyLoss(),
        "multi_label": nn.BCEWithLogitsLoss(),
        "segmentation": segmentation_loss,
        "detection": detection_loss,
    }[task]


def split_body_head(model: nn.Module) -> list[list[nn.Parameter]]:
    """[pretrained body, new head] parameter groups: fastai's splitter, for freeze() and per-group LRs."""
    if isinstance(model, UNet):
        body = list(model.encoder.parameters())
    elif isinstance(model, Detector):
        body = list(model.fcos.backbone.body.parameters())
    else:
        head = {id(p) for p in model.get_classifier().parameters()}
        body = [p for p in model.parameters() if id(p) not in head]
    ids = {id(p) for p in body}
    return [body, [p for p in model.parameters() if id(p) not in ids]]
