"""Object detection: boxes around each finding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..base import TaskKind


@dataclass(frozen=True, eq=False)
class Detection(TaskKind):
    def statistics(self, data: Any, train: list[int]) -> dict[str, Any]:
        import numpy as np

        sides = [float(np.sqrt(b.w * b.h)) for per in data.boxes for b in per]
        per_image = [len(per) for per in data.boxes]
        return {
            "boxes": {
                "count": len(sides),
                "per_image_mean": float(np.mean(per_image)),
                "side_px_median": float(np.median(sides)) if sides else 0.0,
                "side_px_p10": float(np.percentile(sides, 10)) if sides else 0.0,
                "side_px_p90": float(np.percentile(sides, 90)) if sides else 0.0,
            }
        }

    def describe_statistics(self, statistics) -> list[str]:
        b = statistics.get("boxes")
        if not b:
            return []
        sides = f"side {b['side_px_p10']:.0f}–{b['side_px_p90']:.0f} px (median {b['side_px_median']:.0f})"
        return [f"{b['count']} boxes, {b['per_image_mean']:.2f} per image; {sides}"]


KIND = Detection(
    name="detection",
    value_name="Number of {} found",
    order=30,
    title="Object detection",
    about="Boxes around each finding, e.g. nodules and masses.",
    annotations=("detection",),
    headline=("map50",),
    charts=("pr", "froc"),
    multiscale=True,
    head="an FCOS detection head on a 64-channel feature pyramid (strides 8, 16, 32)",
    training="deepq_widgets.kinds.detection.training:DetectionTraining",
)
