"""Batches straight from the in-memory cache, augmented on the device.

The cache already holds decoded, resized uint8 images, so a batch is an index, a copy,
a division and one affine warp. Loading never becomes the bottleneck, and there are no
worker processes to oversubscribe the cores.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from ..data.cache import CachedData
from ..spec import Augmentation
from .augment import colour_jitter, random_affine, warp, warp_boxes, warp_masks


class BatchLoader:
    """Iterates (x, y) batches for one task kind; `augment=None` for validation."""

    def __init__(
        self,
        data: CachedData,
        indices: Sequence[int],
        task: str,
        batch_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        augment: Augmentation | None = None,
        shuffle: bool = False,
        seed: int = 0,
    ):
        self.data, self.indices, self.task = data, np.asarray(indices, dtype=np.int64), task
        self.bs = max(1, min(batch_size, len(self.indices)))
        self.augment, self.shuffle = augment, shuffle
        self.drop_last = shuffle and len(self.indices) > self.bs  # no tiny last batch for BatchNorm
        self.generator = torch.Generator().manual_seed(seed)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.device = torch.device("cpu")
        self.channels_last = False

    def to(self, device: torch.device | str) -> BatchLoader:
        self.device = torch.device(device)
        return self

    def __len__(self) -> int:
        n = len(self.indices)
        return n // self.bs if self.drop_last else -(-n // self.bs)

    def __iter__(self) -> Iterator[tuple]:
        order = self.indices[torch.randperm(len(self.indices), generator=self.generator).numpy()] if self.shuffle else self.indices
        for start in range(0, len(self) * self.bs, self.bs):
            yield self.batch(np.sort(order[start : start + self.bs]))

    def batch(self, idx: np.ndarray) -> tuple:
        images = torch.from_numpy(np.ascontiguousarray(self.data.images[idx])).to(self.device)
        x = images.permute(0, 3, 1, 2).float().div_(255)
        theta = random_affine(self.augment, len(idx), self.generator) if self.augment else None
        if theta is not None:
            x = colour_jitter(warp(x, theta), self.augment, self.generator)
        x = (x - self.mean.to(self.device)) / self.std.to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return (x, *self._targets(idx, theta))

    def _targets(self, idx: np.ndarray, theta: torch.Tensor | None) -> tuple:
        if self.task == "single_label":
            return (torch.from_numpy(self.data.labels[idx].argmax(1)).to(self.device),)
        if self.task == "multi_label":
            return (torch.from_numpy(self.data.labels[idx]).to(self.device),)
        if self.task == "segmentation":
            masks = torch.from_numpy(np.ascontiguousarray(self.data.masks[idx])).long()
            return ((warp_masks(masks, theta) if theta is not None else masks).to(self.device),)
        return detection_targets(self.data, idx, theta, self.data.images.shape[1], self.device)


def detection_targets(data: CachedData, idx: np.ndarray, theta: torch.Tensor | None, size: int, device: torch.device) -> tuple:
    """(box counts, [{'boxes': xyxy, 'labels': 1..K}]): the counts give fastai a batch size to average by."""
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
