"""The create-task wizard as a pure state machine: steps, validity, next/back, the TaskSpec.

No widgets here. The widgets (and the `deepq spec` command) set fields on the state, ask
whether a step is valid and why not, and move with next()/back(). Everything the wizard
needs to know about the world (datasets, presets, registry, zoo) comes in a WizardContext,
so the logic is tested without a workspace or a browser.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from . import kinds
from .contracts import ModelCard
from .data.catalog import DatasetInfo
from .flows import FLOWS, FlowRules
from .presets import Preset
from .spec import (
    Augmentation,
    AutoPreferences,
    Flow,
    Hyperparameters,
    Modality,
    ModelChoice,
    Search,
    SpecError,
    TaskSpec,
    Tuning,
    describe_errors,
)
from .zoo.select import Recommendation


class Step(StrEnum):
    flow = "flow"
    task = "task"
    preset = "preset"
    base_model = "base_model"
    dataset = "dataset"
    model = "model"
    start = "start"


STEPS: dict[Flow, list[Step]] = {flow: [Step.flow, Step(r.choice_step), Step.dataset, Step.model, Step.start] for flow, r in FLOWS.items()}

TITLES = {
    Step.flow: "Flow",
    Step.task: "Task type",
    Step.preset: "Preset",
    Step.base_model: "Base model",
    Step.dataset: "Dataset",
    Step.model: "Model",
    Step.start: "Start",
}

MAX_UPRIGHT_ROTATION = 30  # degrees; radiographs and CT/MR slices are acquired in a standard orientation
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.()")


@dataclass
class WizardContext:
    """The world as the wizard sees it; each field is cheap to call repeatedly."""

    datasets: Callable[[], dict[str, DatasetInfo]] = dict
    presets: dict[str, Preset] = field(default_factory=dict)
    base_models: Callable[[], dict[str, ModelCard]] = dict
    known_arch: Callable[[str], bool] = lambda arch: True
    taken_names: Callable[[], set[str]] = set
    recommend: Callable[[str, Modality, int], Recommendation] | None = None


@dataclass
class WizardState:
    step: Step = Step.flow
    flow: Flow | None = None
    task: str | None = None
    preset: str | None = None
    base_model: str | None = None
    dataset: str | None = None
    tuning: Tuning = Tuning.auto
    auto: AutoPreferences = field(default_factory=AutoPreferences)
    model: ModelChoice = field(default_factory=ModelChoice)
    image_size: int = 224
    windows: list[str] = field(default_factory=list)
    hyper: Hyperparameters = field(default_factory=Hyperparameters)
    augment: Augmentation = field(default_factory=Augmentation)
    search: Search = field(default_factory=Search)
    name: str = ""
    description: str = ""
    seed: int = 0


ENUM_FIELDS = {"step": Step, "flow": Flow, "task": lambda name: kinds.get(name).name, "tuning": Tuning}


class Wizard:
    """Holds a WizardState and moves it; listeners hear about every change."""

    def __init__(self, context: WizardContext | None = None, state: WizardState | None = None):
        self.context = context or WizardContext()
        self.state = state or WizardState()
        self._listeners: list[Callable[[Wizard], None]] = []

    # -- observation ------------------------------------------------------------------------
    def observe(self, listener: Callable[[Wizard], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener(self)

    # -- actions ----------------------------------------------------------------------------
    def update(self, **changes: Any) -> None:
        """Set state fields; choosing a flow, preset or base model fills in what it fixes."""
        unknown = set(changes) - {f.name for f in fields(WizardState)}
        if unknown:
            raise AttributeError(f"unknown wizard field(s): {', '.join(sorted(unknown))}")
        changes = {k: ENUM_FIELDS[k](v) if k in ENUM_FIELDS and v is not None else v for k, v in changes.items()}
        if changes.get("flow") is not None and changes["flow"] != self.state.flow:
            # A new flow starts over; the user stays on the flow step or its first choice.
            here = min(self.steps().index(self.state.step), 1) if self.state.step in self.steps() else 0
            self.state = replace(WizardState(), flow=changes["flow"], step=STEPS[changes["flow"]][here])
        if changes.get("preset") and changes["preset"] in self.context.presets:
            self._apply_preset(self.context.presets[changes["preset"]])
        if changes.get("base_model"):
            self._apply_base_model(changes["base_model"])
        for key, value in changes.items():
            setattr(self.state, key, value)
        if changes.get("tuning") is Tuning.manual:
            self.rules.on_manual(self)
        self._changed()

    def set_hyper(self, **values: Any) -> None:
        """Change hyperparameters; out-of-range values raise SpecError naming the field and range."""
        self.state.hyper = _validated(Hyperparameters, self.state.hyper, values)
        self._changed()

    def set_augment(self, **values: Any) -> None:
        self.state.augment = _validated(Augmentation, self.state.augment, values)
        self._changed()

    def set_auto(self, **values: Any) -> None:
        self.state.auto = _validated(AutoPreferences, self.state.auto, values)
        self._changed()

    def next(self) -> str | None:
        """Move on if the current step is valid; return the reason when it is not."""
        reason = self.step_problem(self.state.step)
        if reason is None:
            steps = self.steps()
            index = steps.index(self.state.step)
            if index + 1 < len(steps):
                self.state.step = steps[index + 1]
                self._changed()
        return reason

    def back(self) -> None:
        steps = self.steps()
        index = steps.index(self.state.step) if self.state.step in steps else 0
        if index > 0:
            self.state.step = steps[index - 1]
            self._changed()

    def go_to(self, step: Step) -> str | None:
        """Jump to a step whose predecessors are all valid (the step indicator's links)."""
        for earlier in self.steps()[: self.steps().index(step)]:
            reason = self.step_problem(earlier)
            if reason:
                return f"{TITLES[earlier]}: {reason}"
        self.state.step = step
        self._changed()
        return None

    # -- derived views ------------------------------------------------------------------------
    @property
    def rules(self) -> FlowRules:
        """What the current flow decides (General until one is chosen)."""
        return FLOWS[self.state.flow or Flow.general]

    def steps(self) -> list[Step]:
        return STEPS[self.rules.flow]

    def progress(self) -> list[tuple[Step, str, str]]:
        """(step, title, 'done' | 'current' | 'pending') for the step indicator."""
        steps = self.steps()
        here = steps.index(self.state.step) if self.state.step in steps else 0
        return [(s, self.title(s), "done" if i < here else "current" if i == here else "pending") for i, s in enumerate(steps)]

    def title(self, step: Step) -> str:
        return self.rules.model_title if step is Step.model else TITLES[step]

    @property
    def can_next(self) -> bool:
        return self.step_problem(self.state.step) is None

    def task_type(self) -> str | None:
        """The task type in force: chosen (General), fixed by the preset, or by the base model."""
        return self.rules.task_type(self)

    def dataset_choices(self) -> tuple[list[str], dict[str, str]]:
        """Datasets that fit the current task, and the others with the reason they do not."""
        fitting, unfit = [], {}
        for name, info in sorted(self.context.datasets().items()):
            reason = self._dataset_problem(info)
            if reason is None:
                fitting.append(name)
            else:
                unfit[name] = reason
        return fitting, unfit

    def recommendation(self) -> Recommendation | None:
        task = self.task_type()
        if self.context.recommend is None or task is None:
            return None
        return self.context.recommend(task, self.state.auto.modality, self.state.auto.size)

    def warnings(self) -> list[str]:
        """Non-blocking advice about the chosen augmentation."""
        s, out = self.state, []
        preset = self.rules.preset(self)
        lateral = preset.lateral_anatomy if preset else s.auto.modality in (Modality.xray, Modality.ct)
        if s.augment.hflip and lateral:
            out.append("Horizontal flip is on, but left and right anatomy differ in these images (a flipped chest is not a normal chest).")
        upright = preset is not None or s.auto.modality in (Modality.xray, Modality.ct, Modality.mri)
        if s.augment.rotate_deg > MAX_UPRIGHT_ROTATION and upright:
            out.append(
                f"Rotation up to {s.augment.rotate_deg:g}° is on, but these images are acquired upright; "
                f"more than about {MAX_UPRIGHT_ROTATION}° shows the network orientations it will never see."
            )
        info = self.context.datasets().get(s.dataset or "")
        single_channel = (info is not None and info.channels == 1 and len(self.windows()) <= 1) or len(self.windows()) == 1
        if single_channel and (s.augment.saturation > 0 or s.augment.hue > 0):
            out.append("Saturation and hue jitter have no effect on single-channel (grey-scale) medical images.")
        return out

    def windows(self) -> list[str]:
        return self.rules.windows(self)

    # -- validity -------------------------------------------------------------------------------
    def step_problem(self, step: Step) -> str | None:
        """Why `step` is not complete, or None when it is."""
        s, ctx = self.state, self.context
        if step is Step.flow:
            return None if s.flow else "Choose a training flow."
        if step is Step.task:
            return None if s.task else "Choose a task type."
        if step is Step.preset:
            return None if s.preset in ctx.presets else "Choose a preset."
        if step is Step.base_model:
            return None if s.base_model in ctx.base_models() else "Choose a model to retrain."
        if step is Step.dataset:
            if not s.dataset:
                return "Choose a dataset."
            info = ctx.datasets().get(s.dataset)
            return f"Dataset {s.dataset!r} not found in the workspace." if info is None else self._dataset_problem(info)
        if step is Step.model:
            return self._model_problem()
        return self._name_problem()

    def _dataset_problem(self, info: DatasetInfo) -> str | None:
        task = self.task_type()
        if task is None:
            return "Choose the task first."
        return self.rules.dataset_problem(self, info, task)

    def _model_problem(self) -> str | None:
        return self.rules.model_problem(self)

    def _name_problem(self) -> str | None:
        name = self.state.name.strip()
        if not name:
            return "A task name is required."
        if len(name) > 80:
            return "The task name must be at most 80 characters."
        bad = sorted(set(name) - NAME_CHARS)
        if bad:
            return f"The task name may not contain {' '.join(repr(c) for c in bad)}."
        if name in self.context.taken_names():
            return f"A task named {name!r} already exists; choose another name."
        return None

    # -- the product ------------------------------------------------------------------------------
    def problems(self) -> list[str]:
        return [f"{self.title(step)}: {reason}" for step in self.steps() if (reason := self.step_problem(step))]

    def spec(self) -> TaskSpec:
        """The TaskSpec for the current choices; SpecError lists every step still invalid."""
        problems = self.problems()
        if problems:
            raise SpecError(problems)
        s = self.state
        draft = {
            "name": s.name.strip(),
            "description": s.description,
            "flow": s.flow,
            "task": self.task_type(),
            "dataset": s.dataset,
            "model": s.model,
            "tuning": s.tuning,
            "auto": s.auto,
            "image_size": s.image_size,
            "windows": self.windows(),
            "hyper": s.hyper,
            "augment": s.augment,
            "search": s.search,
            "seed": s.seed,
        }
        return TaskSpec(**draft | self.rules.fixed(self))

    # -- preset and base model fill-ins -----------------------------------------------------------
    def _apply_preset(self, preset: Preset) -> None:
        s = self.state
        s.hyper, s.augment = preset.hyper.model_copy(), preset.augment.model_copy()
        s.image_size, s.windows, s.model = preset.image_size, list(preset.windows), preset.model.model_copy()
        s.dataset = None

    def _apply_base_model(self, model_id: str) -> None:
        card = self.context.base_models().get(model_id)
        if card is not None:
            self.state.image_size, self.state.windows = card.image_size, list(card.windows)
            self.state.dataset = None


def _validated(model_cls: type, current: Any, values: dict[str, Any]) -> Any:
    try:
        return model_cls.model_validate({**current.model_dump(), **values})
    except ValidationError as exc:
        raise SpecError(describe_errors(exc, model_cls)) from None
