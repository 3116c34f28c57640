"""Specialised presets: data files that fix the task, classes, windows, network and tuning.

A preset also says which dataset it needs (format, annotation, minimum size) and checks a
catalogued dataset against that, so the wizard can refuse a mismatch with the reason.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from . import kinds
from .data.catalog import DatasetInfo
from .resources import data_dir
from .spec import Augmentation, Hyperparameters, Modality, ModelChoice, TaskKindName


class DatasetRequirement(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: str
    annotation: str
    min_cases: int = Field(ge=1)
    recommended_cases: int = Field(ge=1)
    help: str


class Preset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    title: str
    task: TaskKindName
    modality: Modality
    image: str
    classes: list[str]
    model: ModelChoice
    image_size: int
    windows: list[str]
    lateral_anatomy: bool = Field(description="Left and right differ, so horizontal flips change the anatomy.")
    hyper: Hyperparameters
    augment: Augmentation
    dataset: DatasetRequirement

    def check_dataset(self, info: DatasetInfo) -> str | None:
        """Why `info` cannot train this preset, or None when it can."""
        need = self.dataset
        reason = kinds.get(self.task).dataset_problem(info)
        if reason:
            return reason
        if info.format != need.format:
            return f"the {self.title} preset needs {need.format.upper()} images, this dataset is {info.format.upper() or 'empty'}"
        if set(info.classes) != set(self.classes):
            return f"classes must be {', '.join(self.classes)}; found {', '.join(info.classes) or 'none'}"
        if len(info.usable) < need.min_cases:
            return f"needs at least {need.min_cases} usable cases, found {len(info.usable)}"
        modalities = set(info.modalities)
        wanted = {"X-ray": {"CR", "DX", "DR"}, "CT": {"CT"}, "MRI": {"MR"}}.get(self.modality.value, set())
        if wanted and modalities and not modalities & wanted:
            return f"expects {self.modality.value} images; the DICOM headers say {', '.join(sorted(modalities))}"
        return None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "task": self.task,
            "classes": self.classes,
            "modality": self.modality.value,
            "model": self.model.arch,
            "windows": self.windows,
            "image_size": self.image_size,
            "image": self.image,
            "dataset": self.dataset.model_dump(mode="json"),
        }


@cache
def load_presets() -> dict[str, Preset]:
    """Every preset in presets/, by id."""
    out = {}
    for path in sorted(data_dir("presets").glob("*.yaml")):
        preset = Preset.model_validate(yaml.safe_load(path.read_text()))
        out[preset.id] = preset
    return out


def get_preset(preset_id: str) -> Preset:
    presets = load_presets()
    if preset_id not in presets:
        raise KeyError(f"unknown preset {preset_id!r}; known: {', '.join(presets)}")
    return presets[preset_id]
