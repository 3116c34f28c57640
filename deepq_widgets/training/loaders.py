"""Batches straight from the in-memory cache, augmented on the device.

The cache already holds decoded, resized uint8 images, so a batch is an index, a copy,
a division and one affine warp. Loading never becomes the bottleneck, and there are no
worker processes to oversubscribe the cores.

A batch of studies is (B, S, C, H, W): S slices of each study, spread over its volume in patient
order (`study_positions`), so memory is bounded by S whatever the study's length; one study's slices
share one warp and one colour jitter. Read in 2.5D (`context` > 0), each of the S slices comes with
its neighbours: (B, S, N, C, H, W), N = 2 x context + 1 slices centred on it (the study's first and
last slices repeat at its ends). Study batches end with each drawn slice's class (-1: unlabelled).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from ..data.cache import CachedData
from ..spec import Augmentation
from .augment import colour_jitter, jitter_factors, random_affine, warp

Targets = Callable[[CachedData, np.ndarray, "torch.Tensor | None", torch.device], tuple]


def best_device() -> torch.device:
    """Where a run trains and infers: the GPU when there is one."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, S, S, C) network pixels (data/preprocess.py) -> float (N, C, S, S) in [0, 1]."""
    return images.permute(0, 3, 1, 2).float().div_(255)


def normalise(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Float (N, C, S, S) in [0, 1] -> normalised by the network's pretraining statistics."""
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


class BatchLoader:
    """Iterates (x, *targets) batches; the task kind's `targets` makes the targets. `augment=None` for validation."""

    def __init__(
        self,
        data: CachedData,
        indices: Sequence[int],
        targets: Targets,
        batch_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        augment: Augmentation | None = None,
        shuffle: bool = False,
        seed: int = 0,
        slices: int = 0,
        context: int = 0,
    ):
        """`slices`: for a dataset of studies, at most this many slices of each study per batch (0: all);
        `context`: read each with this many neighbours on each side (2.5D)."""
        self.data, self.indices, self.targets = data, np.asarray(indices, dtype=np.int64), targets
        self.bs = max(1, min(batch_size, len(self.indices)))
        self.augment, self.shuffle = augment, shuffle
        self.drop_last = shuffle and len(self.indices) > self.bs  # no tiny last batch for BatchNorm
        self.generator = torch.Generator().manual_seed(seed)
        self.mean, self.std = list(mean), list(std)
        self.device = torch.device("cpu")
        self.channels_last = False
        self.rank, self.world = 0, 1
        self.share = 1.0  # this rank's fraction of the last batch (data parallel: distributed.py)
        self.slices = slices  # studies: at most this many slices per study in a batch (0: every slice)
        self.context = context  # studies in 2.5D: neighbours on each side of every slice

    def over(self, indices: Sequence[int]) -> BatchLoader:
        """A loader like this one (unaugmented, in order) over other cases: the training cases scored as validation is."""
        loader = BatchLoader(self.data, indices, self.targets, self.bs, self.mean, self.std, slices=self.slices, context=self.context).to(
            self.device
        )
        loader.channels_last = self.channels_last
        return loader

    def shard(self, rank: int, world: int) -> None:
        """Keep this rank's share of every batch (`world` 1: all of it). Every rank still walks the same order."""
        self.rank, self.world = rank, world

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
        """The batch of cases `idx`, or this rank's share of it. The augmentation is drawn for the whole batch, so
        every rank draws the same random numbers, and together the ranks see what one process would."""
        theta = jitter = None
        if self.augment:
            theta = random_affine(self.augment, len(idx), self.generator)
            jitter = jitter_factors(self.augment, len(idx), self.data.images.shape[-1], self.generator)
        if self.world > 1:
            keep = rank_share(len(idx), self.rank, self.world)
            self.share = (keep.stop - keep.start) / len(idx)
            idx, theta, jitter = idx[keep], None if theta is None else theta[keep], None if jitter is None else jitter.take(keep)
        if self.data.slices is not None:
            return self.study_batch(idx, theta, jitter)
        images = torch.from_numpy(np.ascontiguousarray(self.data.images[idx])).to(self.device)
        x = to_unit(images)
        if theta is not None:
            x = colour_jitter(warp(x, theta), jitter)
        x = normalise(x, self.mean, self.std)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return (x, *self.targets(self.data, idx, theta, self.device))

    def study_batch(self, idx: np.ndarray, theta: torch.Tensor | None, jitter: Any) -> tuple:
        """(B, S, C, H, W) slices of the studies `idx` (with neighbours: (B, S, N, C, H, W)), drawn at random within
        S even parts of each volume when training, evenly spaced otherwise; then the targets, and each slice's class."""
        assert self.data.slices is not None and self.data.slice_classes is not None
        longest = max(len(self.data.slices[i]) for i in idx)
        count = min(self.slices, longest) if self.slices else longest
        generator = self.generator if self.augment else None
        picked = [study_positions(len(self.data.slices[i]), count, generator) for i in idx]
        read = [with_neighbours(p, self.context, len(self.data.slices[i])) for p, i in zip(picked, idx, strict=True)]
        rows = np.stack([self.data.slices[i][r] for r, i in zip(read, idx, strict=True)])  # (B, S) or (B, S, N)
        x = to_unit(torch.from_numpy(np.ascontiguousarray(self.data.images[rows.reshape(-1)])).to(self.device))
        per_study = rows[0].size
        if theta is not None:
            x = colour_jitter(warp(x, theta.repeat_interleave(per_study, 0)), jitter.repeat(per_study))
        x = normalise(x, self.mean, self.std).view(*rows.shape, *x.shape[1:])
        classes = np.stack([self.data.slice_classes[i][p] for p, i in zip(picked, idx, strict=True)])
        return (x, *self.targets(self.data, idx, theta, self.device), torch.from_numpy(classes).to(self.device))


def study_positions(depth: int, count: int, generator: torch.Generator | None) -> np.ndarray:
    """`count` slice positions of a study of `depth` slices, in patient order: one from each of `count` even parts
    of the volume, at random within its part (`generator`) or at its middle; a shorter study repeats slices evenly."""
    offset = torch.rand(count, generator=generator).numpy() if generator is not None else np.full(count, 0.5)
    picks = np.floor((np.arange(count) + offset) * depth / count).astype(np.int64)
    return np.clip(picks, 0, depth - 1)


def with_neighbours(positions: np.ndarray, context: int, depth: int) -> np.ndarray:
    """(S,) positions -> (S, 2 x context + 1) with their neighbours, held at the volume's ends; unchanged for 0."""
    if not context:
        return positions
    return np.clip(positions[:, None] + np.arange(-context, context + 1), 0, depth - 1)


def rank_share(n: int, rank: int, world: int) -> slice:
    """Rank `rank`'s contiguous part of `n` items split as evenly as can be among `world` ranks."""
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))
