"""TaskSpec: the one serialisable description of a training task.

The wizard builds it, the CLI reads it from a file, the worker consumes it. Saving a
TaskSpec and running it again reproduces the task (the seed is part of it).
No torch and no ipywidgets here: this module must import in milliseconds.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from . import kinds

SPEC_VERSION = 1


class Flow(StrEnum):
    general = "general"
    specialized = "specialized"
    retrain = "retrain"


def _registered_kind(name: str, info: ValidationInfo) -> str:
    if (info.context or {}).get("stored"):  # a task file the store kept: read even where its kind is not installed
        return name
    try:
        return kinds.get(name).name
    except kinds.UnknownTaskKind as exc:
        raise ValueError(str(exc)) from None


TaskKindName = Annotated[str, AfterValidator(_registered_kind)]


MAX_NAME = 80


def name_problem(name: str) -> str | None:
    """The task-name rule, the one the wizard, submission and the task file share: a name is shown in the
    dashboard, the terminal and reports, so it is printable text (any script) without markup, at most 80
    characters. None when `name` keeps it."""
    if not name.strip():
        return "a task needs a name"
    if len(name) > MAX_NAME:
        return f"a task name has at most {MAX_NAME} characters"
    if not name.isprintable() or any(c in name for c in "<>"):
        return "a task name may not hold control characters (terminal escapes, line breaks) or < >"
    return None


def _plain_name(name: str) -> str:
    problem = name_problem(name) if name else None  # a draft may have no name yet; submission requires one
    if problem:
        raise ValueError(problem)
    return name


def _dataset_name(name: str) -> str:
    """A dataset is a folder directly under datasets/: its name, never a path."""
    if name and (name in (".", "..") or name.startswith(".") or any(c in name for c in "/\\") or not name.isprintable()):
        raise ValueError(f"{name!r} is not a dataset name (a folder directly under datasets/, not a path)")
    return name


MAX_WINDOWS = 8  # DICOM windows stacked as channels; the presets use up to 3


class Tuning(StrEnum):
    auto = "auto"
    manual = "manual"


class Schedule(StrEnum):
    constant = "constant"
    step = "step"
    one_cycle = "one_cycle"


class Modality(StrEnum):
    ct = "CT"
    mri = "MRI"
    xray = "X-ray"
    fundus = "Fundus"
    other = "Other"


class SearchMethod(StrEnum):
    none = "none"
    grid = "grid"
    random = "random"
    pbt = "pbt"


class StudyModel(StrEnum):
    """How a study-level kind reads a study's slices (the kinds that read volumes)."""

    attention = "attention"  # multiple-instance learning: slice features weighed by a learned attention
    max = "max"  # multiple-instance learning: the most telling slice decides
    context = "context"  # 2.5D: each slice with its neighbours, trained on slice labels; the study is its most abnormal slice


class OperatingRule(StrEnum):
    youden = "youden"
    sensitivity = "sensitivity"
    specificity = "specificity"


class SpecError(ValueError):
    """A TaskSpec that cannot be built; the message names each field and its allowed range."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _range(default: Any, lo: Any, hi: Any, help: str) -> Any:
    return Field(default, ge=lo, le=hi, description=help)


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_enum_values=False)


class Hyperparameters(_Part):
    """SPEC section 4 defaults and ranges (those of the original product)."""

    batch_size: int = _range(32, 1, 256, "Images per optimisation step (studies, for a study classification task).")
    epochs: int = _range(100, 1, 200, "Passes over the training set (early stop may end sooner).")
    valid_pct: int = _range(20, 1, 99, "Percentage of cases held out for validation.")
    lr: float = _range(1e-3, 1e-6, 1.0, "Peak learning rate.")
    schedule: Schedule = Field(Schedule.one_cycle, description="How the learning rate moves over training.")
    weight_decay: float = _range(0.0, 0.0, 0.1, "Decoupled weight decay (AdamW).")
    momentum: float = _range(0.9, 0.0, 0.99, "First-moment coefficient (beta1 / SGD momentum).")
    early_stop: bool = Field(True, description="Stop when validation loss stops improving.")
    patience: int = _range(5, 1, 50, "Epochs without improvement before early stop.")
    last_weights: bool = Field(
        False, description="Keep the last epoch's weights, not those of the lowest validation loss (early stop off)."
    )
    refit: bool = Field(
        False, description="After the validated fit, train a fresh network on every case (validation included) for its best epoch count."
    )
    folds: int = _range(
        1,
        1,
        10,
        "k-fold ensemble (k >= 2): k networks, each trained without one k-th of the cases and scored on it; the model "
        "averages them and its figures are out-of-fold, on every case. Classification only; not with refit.",
    )

    study_model: StudyModel = Field(
        StudyModel.attention,
        description="Studies: how the slices make the study's call: a learned attention over the slices' features, the "
        "slice that says most (max), or 2.5D (context): each slice read with its neighbours and trained on the slice "
        "labels, the study called by its most abnormal slice.",
    )
    slices: int = _range(
        16, 2, 128, "Studies: slices a study contributes to one training step, spread over the volume (memory is bounded by it)."
    )
    context: int = _range(1, 1, 2, "Studies, 2.5D: neighbouring slices on each side read with each slice (3 or 5 slices in all).")

    @model_validator(mode="after")
    def _one_final_fit(self) -> Hyperparameters:
        if self.refit and self.folds > 1:
            raise ValueError("hyper.refit and hyper.folds > 1 both choose what the final model trains on: choose one")
        if self.last_weights and self.early_stop:
            raise ValueError("hyper.last_weights: early stop ends the fit at the best epoch's weights; switch it off to keep the last")
        return self


class Augmentation(_Part):
    hflip: bool = Field(True, description="Random horizontal flip.")
    hflip_p: float = _range(0.5, 0.0, 1.0, "Probability of a horizontal flip.")
    resized_crop: bool = Field(True, description="Random resized crop.")
    crop_min_scale: float = _range(0.75, 0.1, 1.0, "Smallest crop area as a fraction of the image.")
    translate_pct: float = _range(5.0, 0.0, 20.0, "Largest shift, in percent of the image side.")
    rotate_deg: float = _range(180.0, 0.0, 180.0, "Largest rotation in degrees.")
    brightness: float = _range(0.1, 0.0, 1.0, "Colour jitter: brightness.")
    contrast: float = _range(0.1, 0.0, 1.0, "Colour jitter: contrast.")
    saturation: float = _range(0.1, 0.0, 1.0, "Colour jitter: saturation (no effect on one-channel images).")
    hue: float = _range(0.1, 0.0, 0.5, "Colour jitter: hue (no effect on one-channel images).")


class Search(_Part):
    method: SearchMethod = Field(
        SearchMethod.none,
        description="Search over learning rate, weight decay and batch size: grid or random (Optuna trials), "
        "or pbt (population-based training: the worst members copy the best ones' weights and perturb their settings).",
    )
    trials: int = _range(1, 1, 48, "Number of trials (grid, random) or of population members (pbt).")


class AutoPreferences(_Part):
    """The General flow's Auto select inputs."""

    modality: Modality = Modality.other
    size: int = _range(2, 1, 5, "Model preference: 1 small … 5 large.")
    ensemble: bool = Field(
        False,
        description="Under 300 cases, a 5-fold ensemble instead of one network (classification): about 3x the time, "
        "for a better model and figures on every case.",
    )
    max_side: int | None = Field(
        None, ge=32, le=1024, description="The largest image side Auto may plan (to go faster); none: the network's recommended size."
    )


class OperatingPoint(_Part):
    """Where a finding is called positive: chosen on the validation cases, stored with the model,
    applied by predict and evaluate (two-class and multi-label classification)."""

    rule: OperatingRule = Field(
        OperatingRule.youden,
        description="youden: the threshold that maximises sensitivity + specificity; sensitivity / specificity: "
        "the threshold that reaches `target` for it with the best of the other.",
    )
    target: float = _range(0.9, 0.5, 0.999, "The sensitivity or specificity the threshold must reach (not used by youden).")

    def describe(self) -> str:
        return (
            "Youden's J (sensitivity + specificity − 1, largest)"
            if self.rule is OperatingRule.youden
            else f"{self.rule.value} ≥ {self.target:g}"
        )


class ModelChoice(_Part):
    arch: str | None = Field(None, description="timm `arch.tag` from the zoo.")
    pretrain: str = Field("default", description="Pretraining source id, or 'none' to train from scratch.")
    base_model: str | None = Field(None, description="Registry id of a model to retrain.")


class TaskSpec(_Part):
    version: int = SPEC_VERSION
    name: Annotated[str, AfterValidator(_plain_name)] = Field("", description="Unique task name.")
    description: str = Field("", max_length=2000)
    flow: Flow = Flow.general
    task: TaskKindName = Field("single_label", description="A registered task kind (kinds/), e.g. single_label.")
    preset: str | None = None
    dataset: Annotated[str, AfterValidator(_dataset_name)] = Field("", max_length=255)
    label_corrections: bool = Field(False, description="Train on the labels a reviewer chose in the dataset's label_corrections.csv.")
    model: ModelChoice = Field(default_factory=ModelChoice)
    tuning: Tuning = Tuning.auto
    auto: AutoPreferences = Field(default_factory=AutoPreferences)
    image_size: int = _range(224, 32, 1024, "Side of the square network input, in pixels.")
    windows: list[Annotated[str, Field(max_length=40)]] = Field(
        default_factory=list, max_length=MAX_WINDOWS, description="DICOM windows stacked as channels."
    )
    hyper: Hyperparameters = Field(default_factory=Hyperparameters)
    augment: Augmentation = Field(default_factory=Augmentation)
    search: Search = Field(default_factory=Search)
    operating_point: OperatingPoint = Field(default_factory=OperatingPoint)
    seed: int = _range(0, 0, 2**31 - 1, "Random seed; the same seed reproduces the task.")
    devices: int = _range(1, 1, 16, "Devices one task trains on, in data parallel: GPUs, or processes where there is none.")

    @model_validator(mode="after")
    def _flow_needs(self) -> TaskSpec:
        missing = {
            Flow.specialized: ("preset", self.preset),
            Flow.retrain: ("model.base_model", self.model.base_model),
        }.get(self.flow)
        if missing and not missing[1]:
            raise ValueError(f"{missing[0]} is required for the {self.flow.value} flow")
        if self.flow is Flow.general and self.tuning is Tuning.manual and not self.model.arch:
            raise ValueError("model.arch is required when a General task is tuned manually")
        kind = kinds.find(self.task)  # None only for a stored task file whose kind is not installed here
        if self.hyper.folds > 1 and kind is not None and not kind.ensembles:
            raise ValueError(f"hyper.folds > 1 (a k-fold ensemble) is for classification tasks, not {self.task}")
        return self

    # -- serialisation -------------------------------------------------------------
    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> TaskSpec:
        return parse_spec(json.loads(text))

    @classmethod
    def schema_json(cls) -> str:
        return json.dumps(cls.model_json_schema(), indent=2)


def stored_spec(text: str) -> tuple[TaskSpec, str | None]:
    """A task file the store kept, and why this process cannot run it (its kind is not installed or
    failed to load), or None: a task of a missing kind is still listed, never breaking the list."""
    data = json.loads(text)
    try:
        return parse_spec(data), None
    except SpecError as exc:
        try:
            return TaskSpec.model_validate(data, context={"stored": True}), str(exc)
        except ValidationError:
            raise exc from None


def parse_spec(data: dict[str, Any]) -> TaskSpec:
    """Validate a dict into a TaskSpec, raising SpecError with readable messages."""
    try:
        return TaskSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(describe_errors(exc, TaskSpec)) from None


def describe_errors(exc: ValidationError, root: type[BaseModel], within: tuple[str, ...] = ()) -> list[str]:
    """Turn pydantic errors into 'hyper.batch_size must be between 1 and 256 (got 300)'.

    `within` is where in `root` the validated value sits, when only a part was validated.
    """
    out = []
    for err in exc.errors():
        where = (*within, *err["loc"])
        loc = ".".join(str(p) for p in where)
        bounds = _bounds(root, where)
        got = err.get("input")
        if bounds and err["type"] in {"greater_than_equal", "less_than_equal"}:
            out.append(f"{loc} must be between {bounds[0]} and {bounds[1]} (got {got!r})")
        elif loc:
            out.append(f"{loc}: {err['msg']} (got {got!r})" if "input" in err and not isinstance(got, dict) else f"{loc}: {err['msg']}")
        else:
            out.append(err["msg"].removeprefix("Value error, "))
    return out


def _bounds(model: type[BaseModel], loc: tuple) -> tuple[Any, Any] | None:
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type) or not issubclass(field.annotation, BaseModel):
            return None
        model = field.annotation
    return field_bounds(model, str(loc[-1])) if loc else None


def field_bounds(model: type[BaseModel], name: str) -> tuple[Any, Any] | None:
    """The (min, max) declared on a field, for messages and for the widgets' ranges."""
    field = model.model_fields.get(name)
    if field is None:
        return None
    lo = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)
    hi = next((m.le for m in field.metadata if hasattr(m, "le")), None)
    return (lo, hi) if lo is not None and hi is not None else None
