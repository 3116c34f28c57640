"""What crosses processes, as types: events, data statistics, metrics, the evaluation, the model card.

The worker writes these, the store keeps them as JSON, and the widgets, the report and the
CLI read them back as the same types. One definition each: a field added here is a field
every reader sees. Pure (pydantic only): the dashboard kernel imports this without torch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, field, fields, replace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator
from pydantic.dataclasses import dataclass

from .spec import Augmentation, Hyperparameters, TaskSpec

Number = float | None  # None where a figure is undefined (an AUROC with one class present)


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


# -- metrics --------------------------------------------------------------------------------------
class Metrics(Contract):
    """Headline figures (accuracy, auroc, map50, dice…) and the same kind of figure per class."""

    headline: dict[str, Number] = Field(default_factory=dict)
    per_class: dict[str, dict[str, Number]] = Field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = Field(default_factory=dict)  # 95% CI of headline figures (intervals.py)
    cases: int | None = None  # how many cases the figures come from
    warning: str | None = None  # too few cases (or of a class) for stable figures

    @field_validator("headline", mode="before")
    @classmethod
    def _no_nan(cls, value: dict[str, Any]) -> dict[str, Any]:
        return {k: _finite(v) for k, v in value.items()}

    @field_validator("per_class", mode="before")
    @classmethod
    def _no_nan_per_class(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {c: {k: _finite(v) for k, v in row.items()} for c, row in value.items()}

    def flat(self) -> dict[str, Any]:
        """One flat mapping, `auroc`, `auroc_ci` ([low, high]) and `auroc_<class>`: the task row's
        summary and the CLI's JSON."""
        out: dict[str, Any] = dict(self.headline)
        out |= {f"{name}_ci": list(interval) for name, interval in self.intervals.items()}
        for cls, row in self.per_class.items():
            out |= {f"{name}_{cls}": value for name, value in row.items()}
        if self.cases is not None:
            out["cases"] = self.cases
        if self.warning:
            out["warning"] = self.warning
        return out


# -- data statistics ------------------------------------------------------------------------------
class DataStatistics(Contract):
    """Cases per side and class, how the split was made, and what the task kind adds (`kind`: box sizes,
    mask areas, a target's spread; the kind's `statistics` writes it and its `describe_statistics` reads it)."""

    train: int
    valid: int
    train_counts: dict[str, int]
    valid_counts: dict[str, int]
    split: str
    grouped_by: str | None = None
    kind: dict[str, Any] = Field(default_factory=dict)
    problems: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _kind_fields_recorded_at_top_level(cls, value: Any) -> Any:
        """Events recorded before the kinds owned their statistics kept `boxes` and `mask_area_fraction` here."""
        if isinstance(value, dict) and {"boxes", "mask_area_fraction"} & value.keys():
            value = dict(value)
            moved = {k: value.pop(k) for k in ("boxes", "mask_area_fraction") if k in value}
            value["kind"] = {**{k: v for k, v in moved.items() if v is not None}, **value.get("kind", {})}
        return value


# -- a checkpoint set -------------------------------------------------------------------------------------
class CheckpointInfo(Contract):
    """checkpoint.json of a checkpoint set (training/checkpoint.py): what the weights beside it are. A run's set
    says its epoch, best loss, compute time and dataset; a search member's says its round, loss and settings."""

    epoch: int = -1  # the last epoch (round) the weights finished
    best_loss: float | None = None
    compute_s: float = 0.0
    dataset: str = ""  # the fingerprint of the cases it trains on: a resumed task refuses a changed dataset
    member: str | None = None  # a population-based search's member (Tune's trial id)
    valid_loss: float | None = None
    params: dict[str, float] = Field(default_factory=dict)  # a search member's settings
    optimizer: dict[str, Any] = Field(default_factory=dict)  # the optimizer state's layout (its tensors: optim.safetensors)


# -- how far a task is --------------------------------------------------------------------------------
class Progress(Contract):
    """How far a task is, between its events: what the task list and the monitor show. A field left None is
    left as it was (the store also takes each report as a heartbeat)."""

    progress: float | None = None  # 0..1
    epoch: int | None = None  # epochs done
    epochs: int | None = None  # epochs planned
    compute_s: float | None = None
    metrics: dict[str, Any] | None = None  # Metrics.flat() of the latest figures
    model_id: str | None = None  # the registered model, at the end

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


# -- the plan of a run -----------------------------------------------------------------------------
@dataclass
class Plan:
    """What a run actually does: the TaskSpec's hyperparameters (Full Manual), or in Auto mode the planned
    ones (autoplan.py), as one `Hyperparameters` object: a hyperparameter added to the spec is in every plan.
    Change a plan with `but(...)`, which copies it (plans are shared between a run's stages)."""

    hyper: Hyperparameters
    augment: Augmentation
    image_size: int = 0  # the side the network trains at (0 in plans recorded before it was planned: the spec's)
    lr_find_iters: int = 0
    devices: int = 1  # the ranks of a data-parallel fit (GPUs, or CPU processes): training/distributed.py
    notes: list[str] = field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _recorded_flat(cls, value: Any) -> Any:
        """Plans recorded before they held a Hyperparameters object kept its fields at the top level."""
        if isinstance(value, dict) and "hyper" not in value:
            names = Hyperparameters.model_fields
            value = {k: v for k, v in value.items() if k not in names} | {"hyper": {k: v for k, v in value.items() if k in names}}
        return value

    def but(self, **changes: Any) -> Plan:
        """A copy with `changes`, hyperparameters (epochs=3) and the plan's own fields (lr_find_iters=0) alike,
        each checked against its range."""
        mine = {k: changes.pop(k) for k in list(changes) if k in {f.name for f in fields(self)}}
        hyper = Hyperparameters.model_validate(self.hyper.model_dump() | changes) if changes else self.hyper.model_copy()
        return replace(self, **mine | {"hyper": hyper, "notes": list(mine.get("notes", self.notes))})

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hyper"] = self.hyper.model_dump(mode="json")
        d["augment"] = self.augment.model_dump(mode="json")
        return d

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        """The inverse of `to_dict`; other keys (a plan event carries the device and more) are ignored."""
        return TypeAdapter(cls).validate_python(data)


# -- events ---------------------------------------------------------------------------------------
class Event(Contract):
    """Common to every event; `id` and `time` are filled in by the store when read back."""

    id: int = 0
    time: float = 0.0


class StateEvent(Event):
    kind: Literal["state"] = "state"
    state: str
    error: str | None = None
    pid: int | None = None
    resume: bool = False


class StatusEvent(Event):
    kind: Literal["status"] = "status"
    message: str


class StopRequestedEvent(Event):
    kind: Literal["stop_requested"] = "stop_requested"


class DataEvent(Event):
    kind: Literal["data"] = "data"
    statistics: DataStatistics


class DataProblemsEvent(Event):
    kind: Literal["data_problems"] = "data_problems"
    problems: list[str]


class PlanEvent(Event):
    """What the run does: the plan (autoplan.py), where it runs, and the task file that repeats it."""

    kind: Literal["plan"] = "plan"
    plan: Plan
    arch: str
    device: str
    in_chans: int
    mean: list[float]
    std: list[float]
    ran_as: TaskSpec | None = None  # Full Manual with the plan's settings: running it repeats this run


class ModelEvent(Event):
    kind: Literal["model"] = "model"
    source: str
    weights_sha256: str


class EpochEvent(Event):
    kind: Literal["epoch"] = "epoch"
    epoch: int
    train_loss: float
    valid_loss: float
    metrics: Metrics
    lr: float
    seconds: float
    best: bool


class EarlyStopEvent(Event):
    kind: Literal["early_stop"] = "early_stop"
    epoch: int
    patience: int
    best_loss: float


class SearchTrialEvent(Event):
    """One trial of a grid or random search, or one member's round in population-based training."""

    kind: Literal["search_trial"] = "search_trial"
    trial: int
    params: dict[str, float]
    valid_loss: float
    pruned: bool = False
    round: int | None = None
    history: list[str] = Field(default_factory=list)


AnyEvent = Annotated[
    StateEvent
    | StatusEvent
    | StopRequestedEvent
    | DataEvent
    | DataProblemsEvent
    | PlanEvent
    | ModelEvent
    | EpochEvent
    | EarlyStopEvent
    | SearchTrialEvent,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


def ran_as(submitted: TaskSpec, events: list[Event]) -> TaskSpec:
    """The task file that repeats the run once it is planned (Full Manual), else the one submitted."""
    return next((e.ran_as for e in reversed(events) if isinstance(e, PlanEvent) and e.ran_as), submitted)


def event_kind(cls: type[Event]) -> str:
    return cls.model_fields["kind"].default


# -- evaluation -----------------------------------------------------------------------------------
class PerClassRow(Contract):
    """One row of the per-class table; which figures are present depends on the task kind. The figures named
    here come in this order; a kind may add its own (numbers, by name), which follow."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str = Field(alias="class")
    threshold: Number = None  # the score at which the class is called (the operating point)
    sensitivity: Number = None
    specificity: Number = None
    precision: Number = None
    recall: Number = None
    accuracy: Number = None
    f1: Number = None
    dor: Number = None
    auc: Number = None
    ap50: Number = None
    dice: Number = None
    iou: Number = None
    intervals: dict[str, tuple[float, float]] = Field(default_factory=dict)  # 95% CI of the figures that have one

    @field_validator("*", mode="before")
    @classmethod
    def _no_nan(cls, value: Any) -> Any:
        return _finite(value)

    @model_validator(mode="after")
    def _kind_figures_are_numbers(self) -> PerClassRow:
        for name, value in (self.model_extra or {}).items():
            if value is not None and not isinstance(value, int | float):
                raise ValueError(f"per-class figure {name!r} must be a number (got {value!r})")
            if isinstance(value, float) and not math.isfinite(value):
                self.model_extra[name] = None
        return self

    def figures(self) -> dict[str, Number]:
        """The figures this row has, in table order (the kind's own last)."""
        dumped = self.model_dump(exclude={"name", "intervals"})
        return {k: v for k, v in dumped.items() if k in self.model_fields_set or v is not None}


class Curve(Contract):
    fpr: list[float] | None = None
    tpr: list[float] | None = None
    precision: list[float] | None = None
    recall: list[float] | None = None
    fp_per_image: list[float] | None = None


class Gallery(Contract):
    """Indices into `Evaluation.cases` of true positives, false positives and false negatives, or of a
    kind's own outcomes under their titles ("Over-estimated"), with a line under a case where it says more
    ("true 12.1 mm, predicted 15.3 mm")."""

    tp: list[int] = Field(default_factory=list)
    fp: list[int] = Field(default_factory=list)
    fn: list[int] = Field(default_factory=list)
    outcomes: dict[str, list[int]] = Field(default_factory=dict)
    notes: dict[int, str] = Field(default_factory=dict)


class ChartSeries(Contract):
    name: str
    x: list[float]
    y: list[float]


class Chart(Contract):
    """A chart a kind draws from its evaluation (predicted against true values, residuals): data, drawn by
    plots.chart, so that a new kind's figures need no drawing code outside its folder."""

    title: str
    x_label: str
    y_label: str
    series: list[ChartSeries]
    style: Literal["line", "scatter"] = "line"
    reference: Literal["", "identity", "zero"] = ""  # a dashed line: y = x, or y = 0


class Evaluation(Contract):
    """The final evaluation of the kept weights: evaluation.json in the task folder."""

    task: str
    classes: list[str]
    metrics: Metrics
    cases: list[str]
    per_class: list[PerClassRow] = Field(default_factory=list)
    curves: dict[str, Curve] = Field(default_factory=dict)
    thresholds: list[float] | None = None
    confusion: list[list[int]] | None = None
    gallery: dict[str, Gallery] = Field(default_factory=dict)
    charts: list[Chart] = Field(default_factory=list)  # the kind's own charts, beyond the curves
    source: str = ""  # which data the figures come from, and whether the registered model trained on it
    training: Evaluation | None = None  # the same weights on the training cases (the task's evaluation only)


class DatasetEvaluation(Evaluation):
    """A registered model scored on a labelled dataset (`deepq evaluate`): models/<id>/evaluations/<dataset>.json."""

    model_id: str
    dataset: str
    overlap: list[str] = Field(default_factory=list)  # warnings: files or patients shared with the training data
    created: float = 0.0


class FoundBox(Contract):
    """A box a detector found, in the image's pixels: [x0, y0, x1, y1]."""

    label: str
    score: float
    box: list[float]


class Prediction(Contract):
    """What a model said of one image, whatever its kind: one line (`summary`), the call at the operating
    point (`decision`), a number per column (class scores, areas, a measured value), boxes, and the heatmap
    and mask files written for it. Every reader (the predictions view, the API's table, the CSV) reads these
    fields and never guesses the kind from the keys."""

    image: str
    summary: str = ""
    decision: str = ""
    values: dict[str, float] = Field(default_factory=dict)
    boxes: list[FoundBox] = Field(default_factory=list)
    heatmap_file: str | None = None
    mask_file: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _rows_recorded_before_the_type(cls, value: Any) -> Any:
        """Inference lists stored before this type kept each kind's own keys (scores, findings, detections, area)."""
        if not isinstance(value, dict) or not {"scores", "findings", "detections", "area"} & value.keys():
            return value
        row = {k: v for k, v in value.items() if k in ("image", "summary", "decision", "heatmap_file", "mask_file")}
        row["values"] = value.get("scores") or value.get("area") or {}
        row["boxes"] = value.get("detections", [])
        if "findings" in value:
            row["decision"] = ", ".join(value["findings"]) or "no finding"
        if not row.get("summary") and value.get("scores"):
            top, score = max(value["scores"].items(), key=lambda kv: kv[1])
            row["summary"] = f"{top} {score:.2f} → {row.get('decision', '')}"
        elif not row.get("summary"):
            found = len(row["boxes"])
            areas = ", ".join(f"{c} {a:.1%}" for c, a in (value.get("area") or {}).items())
            row["summary"] = areas or f"{found} box{'es' * (found != 1)}"
        return row


class InferenceRun(Contract):
    """A registered model run on every image of a dataset (`deepq predict --dataset`), what it said of
    each image (heatmap and mask files in the workspace): the model page's inference list."""

    model_id: str
    dataset: str
    created: float
    rows: list[Prediction]


class TrainingManifest(Contract):
    """What a model was trained and selected on (train and validation cases), to tell a test set
    that overlaps it: content hashes of the image files, patient and study identifiers."""

    files_sha256: list[str] = Field(default_factory=list)
    patients: list[str] = Field(default_factory=list)
    studies: list[str] = Field(default_factory=list)


# -- the model card -------------------------------------------------------------------------------
class ModelCard(Contract):
    """model.json of a registered model: everything needed to rebuild, judge and retrain it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=())

    id: str
    name: str
    task: str
    arch: str
    classes: list[str]
    image_size: int
    channels: int
    members: int = Field(1, ge=1, le=10)  # > 1: a k-fold ensemble of that many networks, whose outputs it averages
    windows: list[str] = Field(default_factory=list)
    mean: list[float]
    std: list[float]
    metrics: Metrics = Field(default_factory=Metrics)
    thresholds: list[float] | None = None
    dataset: str = ""
    dataset_fingerprint: str = ""
    base_model: str | None = None
    source_task: int | None = None
    created: float = 0.0
    format: Literal["safetensors+json"] = "safetensors+json"
    spec: TaskSpec | None = None

    @property
    def network(self) -> str:
        """The network as lists show it: 'tf_efficientnet_lite0.in1k', or '5 × tf_efficientnet_lite0.in1k (ensemble)'."""
        return f"{self.members} × {self.arch} (ensemble)" if self.members > 1 else self.arch

    @property
    def retrainable(self) -> bool:
        """Retrain fine-tunes one network; an ensemble's members are retrained by running its task file again."""
        return self.members == 1
