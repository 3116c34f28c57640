"""A task kind's pure part: what it is called, which data it reads and trains on, what its insight shows.

Everything here imports in milliseconds (no torch): the wizard, the catalog views, the
report and the CLI use it in the dashboard kernel. The training part (targets, network,
loss, metrics, evaluation, prediction, export) is named by `training` as "module:Class"
and imported only when a worker or an export needs it.

A kind owns its data shape: the `label.csv` columns it reads (`LabelFormat`), the statistics it
adds to the data report and how they read, and (in its training part) its targets, figures,
charts, gallery and what a prediction says. The rest of the package asks the kind and never
which kind it holds. This module imports nothing of the package's, so every floor may use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib import import_module
from typing import Any, Protocol

EXPORT_FORMATS = ("safetensors", "torchscript", "onnx")


class DatasetView(Protocol):
    """What a kind reads of a catalogued dataset (data.catalog.DatasetInfo is one)."""

    layout: str
    annotation: str
    fits: list[str]
    classes: list[str]
    problems: Sequence[Any]
    class_counts: dict[str, int]

    @property
    def usable(self) -> Sequence[Any]: ...


class NetworkView(Protocol):
    """What a kind reads of a zoo entry (zoo.catalog.ZooEntry is one)."""

    @property
    def multiscale(self) -> bool: ...


@dataclass(frozen=True)
class RowReading:
    """What a label format made of one image's rows: its labels, its kind-owned fields (a measured
    value, say), and why it cannot be used (the case stays listed with that problem)."""

    labels: tuple[str, ...] = ()
    fields: Mapping[str, Any] = field(default_factory=dict)
    problem: str | None = None


@dataclass(frozen=True)
class LabelFormat:
    """A `label.csv` layout a kind reads: its columns (the header names it, lower case), the file beside
    `label.csv` that names the target (`classes`: its lines), and how one image's rows become a case.

    A file without a header is read as this format when `marker` exists in the dataset folder and the
    first row has as many fields as `columns`."""

    annotation: str  # the annotation type it produces (the kind's own name, usually)
    columns: tuple[str, ...]  # the first is the image path
    read_rows: Callable[[list[dict[str, str]], list[str]], RowReading]  # (one image's rows, the classes) -> reading
    classes: Callable[[list[str], list[dict[str, str]]], list[str]]  # (marker file lines, every row) -> class names
    marker: str = ""  # e.g. target.txt
    refuse: Callable[[list[dict[str, str]]], str | None] = lambda rows: None  # why the whole file is refused


@dataclass(frozen=True, eq=False)
class TaskKind:
    """One task kind. Subclass it for rules beyond these fields; publish an instance through the
    `deepq_widgets.kinds` entry point (see kinds/__init__.py)."""

    name: str  # the TaskSpec's `task`
    title: str  # "Object detection"
    about: str  # one line for the task-type card
    annotations: tuple[str, ...]  # the dataset annotation types it trains on
    headline: tuple[str, ...]  # headline metrics; the first is the one lists show
    order: int = 100  # where the task step shows it (the built-in kinds: 10, 20, …)
    charts: tuple[str, ...] = ()  # evaluation charts drawn from the curves: roc, pr, confusion, froc (others: Evaluation.charts)
    multiscale: bool = False  # needs a backbone with features at strides 8/16/32
    masks: bool = False  # trains on per-pixel class masks
    training: str = ""  # "module:Class" of the training part
    head: str = ""  # what sits on the backbone, said in the Model step and the summary
    ensembles: bool = False  # its networks' outputs average into a k-fold ensemble (training/ensemble.py)
    label_review: bool = False  # one given class per case: its likely label errors can be found (training/label_issues.py)
    label_formats: tuple[LabelFormat, ...] = ()  # label.csv layouts this kind reads beyond the built-in ones
    target_noun: tuple[str, str] = ("class", "classes")  # what its dataset's classes are, one and several ("quantity")
    volumes: bool = False  # its cases are studies (series or volumes of slices), not images
    value_name: str = "Probability of {}"  # what each of its predictions' values is, per class (a result sent to a PACS names it)

    def dataset_problem(self, info: DatasetView) -> str | None:
        """Why `info` cannot train this kind, or None when it can."""
        if not info.annotation:
            return "no recognised annotation layout" + (f": {info.problems[0].message}" if info.problems else "")
        if not set(self.annotations) & set(info.fits):
            return f"annotated for {info.annotation.replace('_', '-')} ({info.layout}), not {self.title.lower()}"
        if not info.usable:
            return "no usable cases"
        return None

    def last_weights_note(self, hyper: Any) -> str | None:
        """None: a fit keeps the weights of its lowest validation loss (and early stopping may end it). A sentence
        for the plan: it keeps its last epoch's, without early stopping, where the plan's validation loss does not
        follow its headline figure."""
        return None

    def uses_operating_point(self, classes: int) -> bool:
        """Whether a threshold decides what is called positive (two-class and multi-label classification)."""
        return False

    def fits_network(self, entry: NetworkView) -> bool:
        """Whether a zoo network can serve this kind (detection and segmentation need multi-scale features)."""
        return entry.multiscale or not self.multiscale

    def statistics(self, data: Any, train: list[int]) -> dict[str, Any]:
        """What this kind adds to the data statistics (box sizes, mask areas, the target's spread), from the
        cached data: JSON values, kept in `DataStatistics.kind` and read back by `describe_statistics`."""
        return {}

    def describe_statistics(self, statistics: Mapping[str, Any]) -> list[str]:
        """Plain sentences about what `statistics` returned, for the task detail and report."""
        return []

    @cached_property
    def trainer(self) -> Any:
        """The training part (imports torch): built once per process."""
        module, _, cls = self.training.partition(":")
        return getattr(import_module(module), cls)(self)
