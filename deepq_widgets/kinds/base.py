"""A task kind's pure part: what it is called, which data it trains on, what its insight shows.

Everything here imports in milliseconds (no torch): the wizard, the catalog views, the
report and the CLI use it in the dashboard kernel. The training part (targets, network,
loss, metrics, evaluation, prediction, export) is named by `training` as "module:Class"
and imported only when a worker or an export needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..contracts import DataStatistics
    from ..data.catalog import DatasetInfo
    from ..zoo.catalog import ZooEntry

EXPORT_FORMATS = ("safetensors", "torchscript", "onnx")
ANNOTATION_TITLES = {
    "single_label": "single-label",
    "multi_label": "multi-label",
    "detection": "detection",
    "segmentation": "segmentation",
}


@dataclass(frozen=True, eq=False)
class TaskKind:
    """One task kind. Subclass it for rules beyond these fields, then `register()` an instance."""

    name: str  # the TaskSpec's `task`
    title: str  # "Object detection"
    about: str  # one line for the task-type card
    annotations: tuple[str, ...]  # the dataset annotation types it trains on
    headline: tuple[str, ...]  # headline metrics; the first is the one lists show
    charts: tuple[str, ...] = ()  # evaluation charts: roc, pr, confusion, froc
    multiscale: bool = False  # needs a backbone with features at strides 8/16/32
    masks: bool = False  # trains on per-pixel class masks
    training: str = ""  # "module:Class" of the training part
    head: str = ""  # what sits on the backbone, said in the Model step and the summary
    ensembles: bool = False  # its networks' outputs average into a k-fold ensemble (training/ensemble.py)

    def dataset_problem(self, info: DatasetInfo) -> str | None:
        """Why `info` cannot train this kind, or None when it can."""
        if not info.annotation:
            return "no recognised annotation layout" + (f": {info.problems[0].message}" if info.problems else "")
        if not set(self.annotations) & set(info.fits):
            found = ANNOTATION_TITLES.get(info.annotation, info.annotation)
            return f"annotated for {found} ({info.layout}), not {self.title.lower()}"
        if not info.usable:
            return "no usable cases"
        return None

    def uses_operating_point(self, classes: int) -> bool:
        """Whether a threshold decides what is called positive (two-class and multi-label classification)."""
        return False

    def fits_network(self, entry: ZooEntry) -> bool:
        """Whether a zoo network can serve this kind (detection and segmentation need multi-scale features)."""
        return entry.multiscale or not self.multiscale

    def statistics(self, data: Any, train: list[int]) -> dict[str, Any]:
        """Kind-specific fields of DataStatistics (box sizes, mask areas) from the cached data."""
        return {}

    def describe_statistics(self, stats: DataStatistics) -> list[str]:
        """Plain sentences about the kind-specific statistics, for the task detail and report."""
        return []

    @cached_property
    def trainer(self) -> Any:
        """The training part (imports torch): built once per process."""
        module, _, cls = self.training.partition(":")
        return getattr(import_module(module), cls)(self)
