"""What a run reports and keeps while it runs: its data statistics, plan, progress, checkpoint info and events."""

from __future__ import annotations

from dataclasses import asdict, field, fields, replace
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, model_validator
from pydantic.dataclasses import dataclass

from ..spec import Augmentation, Hyperparameters, TaskSpec
from .base import Contract, Metrics


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
