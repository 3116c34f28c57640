"""Segmentation: a class for every pixel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..base import TaskKind


@dataclass(frozen=True, eq=False)
class Segmentation(TaskKind):
    def statistics(self, data: Any, train: list[int]) -> dict[str, Any]:
        import numpy as np

        if data.masks is None:
            return {}
        counts = np.zeros(len(data.classes) + 1, np.int64)
        for start in range(0, len(data.masks), 1024):  # a chunk at a time: the masks stay on disk
            counts += np.bincount(np.asarray(data.masks[start : start + 1024]).ravel(), minlength=len(counts))[: len(counts)]
        total = max(int(counts.sum()), 1)
        return {"mask_area_fraction": {c: float(counts[k + 1] / total) for k, c in enumerate(data.classes)}}

    def describe_statistics(self, statistics) -> list[str]:
        areas = statistics.get("mask_area_fraction")
        if not areas:
            return []
        return ["Mask area: " + ", ".join(f"{c} {v:.1%}" for c, v in areas.items()) + " of the image"]


KIND = Segmentation(
    name="segmentation",
    value_name="Area fraction of {}",
    order=40,
    title="Segmentation",
    about="A class for every pixel, e.g. liver and kidneys.",
    annotations=("segmentation",),
    headline=("dice", "iou"),
    masks=True,
    multiscale=True,
    head="a U-Net-style decoder on the encoder's feature levels (cross-entropy plus Dice)",
    training="deepq_widgets.kinds.segmentation.training:SegmentationTraining",
)
