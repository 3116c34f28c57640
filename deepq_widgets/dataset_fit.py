"""Whether a dataset can train a task: the one rule the wizard (each flow), submission and the run apply."""

from __future__ import annotations

from collections.abc import Sequence

from . import kinds
from .data.catalog import DatasetInfo
from .presets import Preset


def fit_problems(info: DatasetInfo, task: str, preset: Preset | None = None, base_classes: Sequence[str] | None = None) -> list[str]:
    """Why `info` cannot train `task`: the preset's rules where there is one (they include the kind's), else the
    kind's; and a retrained model's classes, which the dataset must match. Empty when it fits."""
    problems = []
    reason = preset.check_dataset(info) if preset is not None else kinds.get(task).dataset_problem(info)
    if reason:
        problems.append(reason)
    if base_classes is not None and info.annotation and set(info.classes) != set(base_classes):
        problems.append(f"its classes ({', '.join(info.classes)}) differ from the base model's ({', '.join(base_classes)})")
    return problems
