"""Study classification: one label per CT or MR study, read from every slice of its series or volume.

A dataset of studies (label rows naming series folders or NIfTI volumes, or class folders of them)
trains a slice encoder from the zoo whose slice features pool into the study's (multiple-instance
learning): the label says "this CTPA shows an embolus", not which of its 300 slices does, and the
network learns which. With slice labels, 2.5D reads each slice with its neighbours and trains on them.
Figures are per study (and per slice where slices are labelled); a prediction gives the study's score
and one per slice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from statistics import median
from typing import Any

from ..base import TaskKind

ANNOTATION = "study_label"  # data/study_layouts.STUDY: the annotation of a dataset of labelled studies


@dataclass(frozen=True, eq=False)
class StudyLabel(TaskKind):
    def dataset_problem(self, info) -> str | None:
        problem = super().dataset_problem(info)
        if problem is None and len([n for n in info.class_counts.values() if n]) < 2:
            return "study classification needs at least 2 classes with studies"
        return problem

    def uses_operating_point(self, classes: int) -> bool:
        return classes == 2

    def last_weights_note(self, hyper: Any) -> str | None:
        if getattr(hyper.study_model, "value", hyper.study_model) != "context":
            return None
        return (
            "2.5D keeps its last epoch's weights, without early stopping: its validation loss (the labelled slices') is "
            "lowest early in the fit, before the study calls are good (benchmarks/README.md, Studies: the weights so "
            "kept scored 0.64 on the embolism draw, the last epoch's 0.94)."
        )

    def statistics(self, data: Any, train: list[int]) -> dict[str, Any]:
        """Studies, slices per study, slice thickness and spacing, and how many studies have slice labels."""
        volumes = [c.volume for c in data.cases if c.volume is not None]
        if not volumes:
            return {}
        depths = [v.depth for v in volumes]
        thickness = [v.thickness for v in volumes if v.thickness]
        spacing = [v.spacing[0] for v in volumes if v.spacing]
        return {
            "studies": len(volumes),
            "slices": [min(depths), median(depths), max(depths)],
            "thickness_mm": median(thickness) if thickness else None,
            "spacing_mm": median(spacing) if spacing else None,
            "slice_labelled": sum(1 for v in volumes if v.slice_labels),
        }

    def describe_statistics(self, statistics: Mapping[str, Any]) -> list[str]:
        if not statistics.get("studies"):
            return []
        low, mid, high = statistics["slices"]
        depth = f"{low:g} slices each" if low == high else f"{low:g}–{high:g} slices (median {mid:g})"
        out = [f"{statistics['studies']:,} studies of {depth}."]
        thick, step = statistics.get("thickness_mm"), statistics.get("spacing_mm")
        if thick or step:
            said = [f"{thick:.2g} mm thick" if thick else "", f"{step:.2g} mm apart" if step else ""]
            out.append("Slices " + " and ".join(p for p in said if p) + " (median).")
        labelled = statistics.get("slice_labelled", 0)
        out.append(
            f"{labelled} stud{'y carries' if labelled == 1 else 'ies carry'} slice labels." if labelled else "Labels are per study only."
        )
        return out


KIND = StudyLabel(
    name="study_label",
    order=15,
    title="Study classification",
    about="One label per CT or MR study (a series or a volume), e.g. PE / normal; the network finds the telling slices.",
    annotations=(ANNOTATION,),
    headline=("accuracy", "auroc", "sensitivity", "specificity"),
    charts=("roc", "pr", "confusion"),
    head="slice features pooled over the study (attention or max), then a linear classifier (softmax); "
    "or 2.5D: each slice scored with its neighbours, the least normal one calling the study",
    volumes=True,
    target_noun=("class", "classes"),
    training="deepq_widgets.kinds.study_label.training:StudyLabelTraining",
)
