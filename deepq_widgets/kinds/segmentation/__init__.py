"""Segmentation: a class for every pixel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import register
from ..base import TaskKind


@dataclass(frozen=True, eq=False)
class Segmentation(TaskKind):
    def statistics(self, data: Any, train: list[int]) -> dict[str, Any]:
        import numpy as np

        if data.masks is None:
            return {}
        masks = np.asarray(data.masks)
        return {"mask_area_fraction": {c: float((masks == k + 1).mean()) for k, c in enumerate(data.classes)}}

    def describe_statistics(self, stats) -> list[str]:
        if not stats.mask_area_fraction:
            return []
        return ["Mask area: " + ", ".join(f"{c} {v:.1%}" for c, v in stats.mask_area_fraction.items()) + " of the image"]


KIND = register(
    Segmentation(
        name="segmentation",
        title="Segmentation",
        about="A class for every pixel, e.g. liver and kidneys.",
        annotations=("segmentation",),
        headline=("dice", "iou"),
        masks=True,
        multiscale=True,
        head="a U-Net-style decoder on the encoder's feature levels (cross-entropy plus Dice)",
        training="deepq_widgets.kinds.segmentation.training:SegmentationTraining",
    )
)
