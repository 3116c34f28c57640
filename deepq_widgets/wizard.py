"""The create-task wizard as a pure state machine: steps, validity, next/back, the TaskSpec.

No widgets here. The widgets (and the `deepq spec` command) set fields on the state, ask
whether a step is valid and why not, and move with next()/back(). Everything the wizard
needs to know about the world (datasets, presets, registry, zoo) comes in a WizardContext,
so the logic is tested without a workspace or a browser.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from . import kinds
from .augment_advice import augmentation_warnings
from .autoplan import Fingerprint, Plan, make_plan, resolved_spec
from .data.catalog import DatasetInfo
from .data.footprint import network_channels
from .duration import Throughput, estimate_seconds, throughput_key
from .flows import FLOWS, FlowRules
from .spec import Flow, SpecError, TaskSpec, Tuning, describe_errors, name_problem
from .wizard_context import WizardContext
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


def blank_draft(**choices: Any) -> TaskSpec:
    """A TaskSpec with nothing chosen: flow, task and dataset stay None until the user picks them.

    The draft is checked field by field as it is edited and as a whole only by Wizard.spec(),
    so a half-filled wizard can hold it.
    """
    return TaskSpec().model_copy(update={"flow": None, "task": None, "dataset": None, **choices})


@dataclass
class WizardState:
    step: Step = Step.flow
    draft: TaskSpec = field(default_factory=blank_draft)
    refused: dict[str, str] = field(default_factory=dict)  # "hyper.lr" -> why the value typed there was refused


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

    @property
    def draft(self) -> TaskSpec:
        """The task as chosen so far."""
        return self.state.draft

    # -- actions ----------------------------------------------------------------------------
    def update(self, step: Step | str | None = None, **changes: Any) -> None:
        """Set draft fields (TaskSpec names) and the step.

        A new flow starts over; the flow's choice (task, preset or base_model) fills in what
        it fixes, and the user's other changes in the same call go on top.
        """
        flow = changes.pop("flow", None)
        if flow is not None and Flow(flow) != self.draft.flow:
            # The user stays on the flow step or its first choice.
            here = min(self.steps().index(self.state.step), 1) if self.state.step in self.steps() else 0
            self.state = WizardState(step=STEPS[Flow(flow)][here], draft=blank_draft(flow=Flow(flow)))
        updates: dict[str, Any] = {}
        choice = self.rules.choice_step
        if changes.get(choice) is not None:
            updates |= self.rules.choose(self, changes.pop(choice))
        updates |= {name: _checked_field(name, value) for name, value in changes.items()}
        if updates.get("tuning") is Tuning.manual and self.draft.tuning is Tuning.auto:
            # Full Manual starts from what Auto would run on this data (no flips where left and right differ, ...):
            # the other changes first, still Auto, then the plan's settings, then the user's own on top
            self.state.draft = self.draft.model_copy(update={k: v for k, v in updates.items() if k != "tuning"})
            updates = self.planned_settings() | updates
        self.state.refused = {k: v for k, v in self.state.refused.items() if k.split(".")[0] not in updates}  # replaced whole
        self.state.draft = self.draft.model_copy(update=updates)
        self.state.draft = self.draft.model_copy(update=self.rules.settle(self, set(updates)))
        if step is not None:
            self.state.step = Step(step)
        self._changed()

    def set_hyper(self, **values: Any) -> None:
        """Change hyperparameters; out-of-range values raise SpecError naming the field and range."""
        self._set_part("hyper", values)

    def set_augment(self, **values: Any) -> None:
        self._set_part("augment", values)

    def set_operating_point(self, **values: Any) -> None:
        self._set_part("operating_point", values)

    def set_search(self, **values: Any) -> None:
        self._set_part("search", values)

    def set_auto(self, **values: Any) -> None:
        self._set_part("auto", values)

    def _set_part(self, name: str, values: dict[str, Any]) -> None:
        current = getattr(self.draft, name)
        try:
            checked = _validated(type(current), {**current.model_dump(), **values})
        except SpecError as exc:
            self.state.refused |= {f"{name}.{key}": str(exc) for key in values}  # the step stays incomplete: nothing clamped
            self._changed()
            raise
        for key in values:
            self.state.refused.pop(f"{name}.{key}", None)
        self.state.draft = self.draft.model_copy(update={name: checked})
        self._changed()

    def refuse(self, path: str, reason: str) -> None:
        """A value typed into the field at `path` that is not even a value (text in a number field)."""
        self.state.refused[path] = reason
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
                return f"{self.title(earlier)}: {reason}"
        self.state.step = step
        self._changed()
        return None

    # -- derived views ------------------------------------------------------------------------
    @property
    def rules(self) -> FlowRules:
        """What the current flow decides (General until one is chosen)."""
        return FLOWS[self.draft.flow or Flow.general]

    def steps(self) -> list[Step]:
        return STEPS[self.rules.flow]

    def progress(self) -> list[tuple[Step, str, str]]:
        """(step, title, 'done' | 'current' | 'pending') for the step indicator."""
        steps = self.steps()
        here = steps.index(self.state.step) if self.state.step in steps else 0
        return [(s, self.title(s), "done" if i < here else "current" if i == here else "pending") for i, s in enumerate(steps)]

    def title(self, step: Step) -> str:
        return self.rules.model_title if step is Step.model else STEP_RULES[step].title

    @property
    def can_next(self) -> bool:
        return self.step_problem(self.state.step) is None

    def task_type(self) -> str | None:
        """The task type in force: chosen (General), or filled in by the preset or the base model."""
        return self.draft.task

    def dataset_choices(self) -> tuple[list[str], dict[str, str]]:
        """Datasets that fit the current task, and the others with the reason they do not."""
        fitting, unfit = [], {}
        for name, info in sorted(self.context.datasets().items()):
            reason = self.dataset_problem(info)
            if reason is None:
                fitting.append(name)
            else:
                unfit[name] = reason
        return fitting, unfit

    def dataset_problem(self, info: DatasetInfo) -> str | None:
        task = self.task_type()
        if task is None:
            return "Choose the task first."
        return self.rules.dataset_problem(self, info, task)

    def recommendation(self) -> Recommendation | None:
        task = self.task_type()
        if self.context.recommend is None or task is None:
            return None
        return self.context.recommend(task, self.draft.auto.modality, self.draft.auto.size)

    def warnings(self) -> dict[str, str]:
        """Non-blocking advice on the chosen augmentation, by the field it is about (shown next to it)."""
        return augmentation_warnings(self.draft, self.rules.preset(self), self.context.dataset(self.draft.dataset))

    # -- validity -------------------------------------------------------------------------------
    def step_problem(self, step: Step) -> str | None:
        """Why `step` is not complete, or None when it is."""
        return STEP_RULES[step].problem(self)

    def problems(self, excluding: Step | None = None) -> list[str]:
        return [f"{self.title(step)}: {reason}" for step in self.steps() if step is not excluding and (reason := self.step_problem(step))]

    def operating_point_applies(self) -> bool:
        """Whether the task calls findings at a threshold, so the operating point is the user's to choose."""
        task, info = self.task_type(), self.context.dataset(self.draft.dataset)
        return task is not None and info is not None and kinds.get(task).uses_operating_point(len(info.classes))

    # -- the product ------------------------------------------------------------------------------
    def forecast(self, spec: TaskSpec | None = None, throughput: Throughput | None = None) -> Forecast | None:
        """What Start will run and how long it takes here; None until the task is complete.

        Pass `spec` when it was just built, and `throughput` to estimate at a speed other than the
        one measured on this machine (kept in the workspace).
        """
        if spec is None:
            try:
                spec = self.spec()
            except SpecError:
                return None
        planned = self._planned(spec)
        if planned is None:
            return None
        plan, info, fingerprint = planned
        channels = network_channels(info, spec.windows)
        key = throughput_key(spec.model.arch or "", plan.image_size, channels, plan.hyper.batch_size)
        speed = throughput or self.context.throughput(key)
        seconds = estimate_seconds(plan, fingerprint, spec.hyper.valid_pct, speed) if speed else None
        return Forecast(spec, plan, channels, key, seconds, speed)

    def planned_settings(self) -> dict[str, Any]:
        """The draft fields of the run Auto would plan now (network, image size, hyperparameters, augmentation), or
        nothing while the earlier steps are incomplete."""
        try:
            spec = self.spec(unnamed="unnamed")
        except SpecError:
            return {}
        planned = self._planned(spec)  # the plan alone: no speed looked up for it
        if planned is None:
            return {}
        ran = resolved_spec(spec, planned[0], spec.model.arch or "")
        return {"model": ran.model, "image_size": ran.image_size, "hyper": ran.hyper, "augment": ran.augment}

    def _planned(self, spec: TaskSpec) -> tuple[Plan, DatasetInfo, Fingerprint] | None:
        """The plan of `spec` on its dataset, with the dataset and its fingerprint; None when there is no such dataset."""
        info = self.context.dataset(spec.dataset)
        if info is None:
            return None
        fingerprint = Fingerprint.of(info, spec.auto.modality)
        return make_plan(spec, fingerprint, self.rules.preset(self)), info, fingerprint

    def plan(self) -> Plan | None:
        """What the run will do (autoplan.py), with its reasons; None until the task is complete."""
        forecast = self.forecast()
        return forecast.plan if forecast else None

    def throughput_key(self) -> str | None:
        """Where this machine's measured speed for the planned network is kept; None until there is a plan."""
        forecast = self.forecast()
        return forecast.throughput_key if forecast else None

    def estimate_seconds(self, throughput: Throughput | None = None) -> float | None:
        """How long the planned run takes at most, at `throughput` (default: as measured on this machine)."""
        forecast = self.forecast(throughput=throughput)
        return forecast.seconds if forecast else None

    def spec(self, unnamed: str | None = None) -> TaskSpec:
        """The TaskSpec for the current choices; SpecError lists every step still invalid. With `unnamed`,
        the Start step is not asked yet and a missing name is that placeholder (the summary before a name)."""
        problems = self.problems(excluding=Step.start if unnamed else None)
        if problems:
            raise SpecError(problems)
        chosen = dict(self.draft) | {"name": self.draft.name.strip() or unnamed or ""} | self.rules.fixed(self)
        return TaskSpec.model_validate(chosen)


@dataclass(frozen=True)
class Forecast:
    """What Start will run: the task file, its plan, and how long it takes here once measured."""

    spec: TaskSpec
    plan: Plan
    channels: int  # the network's input channels
    throughput_key: str  # where this machine's speed for the plan is kept
    seconds: float | None  # the longest the run takes; None where this machine's speed is not known even roughly
    speed: Throughput | None = None  # what `seconds` comes from: its basis and spread


# -- the steps: what each needs before Next, registered once ------------------------------------------
@dataclass(frozen=True)
class StepRule:
    title: str
    problem: Callable[[Wizard], str | None]  # why the step is not complete, or None


def _dataset_step_problem(wizard: Wizard) -> str | None:
    name = wizard.draft.dataset
    if not name:
        return "Choose a dataset."
    info = wizard.context.dataset(name)
    return f"Dataset {name!r} not found in the workspace." if info is None else wizard.dataset_problem(info)


def _refused(wizard: Wizard, parts: tuple[str, ...]) -> str | None:
    """Why the values typed on this step were refused, every one: the step is incomplete until they are corrected."""
    return "; ".join(why for path, why in wizard.state.refused.items() if path.split(".")[0] in parts) or None


def _name_problem(wizard: Wizard) -> str | None:
    name = wizard.draft.name.strip()
    if not name:
        return "A task name is required."
    problem = name_problem(name)
    if problem:
        return problem[0].upper() + problem[1:] + "."
    if name in wizard.context.taken_names():
        return f"A task named {name!r} already exists; choose another name."
    return None


STEP_RULES: dict[Step, StepRule] = {
    Step.flow: StepRule("Flow", lambda w: None if w.draft.flow else "Choose a training flow."),
    Step.task: StepRule("Task type", lambda w: None if w.draft.task else "Choose a task type."),
    Step.preset: StepRule("Preset", lambda w: None if w.draft.preset in w.context.presets else "Choose a preset."),
    Step.base_model: StepRule(
        "Base model", lambda w: None if w.draft.model.base_model in w.context.base_models() else "Choose a model to retrain."
    ),
    Step.dataset: StepRule("Dataset", _dataset_step_problem),
    Step.model: StepRule("Model", lambda w: _refused(w, ("image_size", "hyper", "augment", "search")) or w.rules.model_problem(w)),
    Step.start: StepRule("Start", lambda w: _refused(w, ("operating_point",)) or _name_problem(w)),
}


# -- checking one field of the draft ------------------------------------------------------------------
@cache
def _field_adapter(name: str) -> TypeAdapter:
    info = TaskSpec.model_fields.get(name)
    if info is None:
        raise AttributeError(f"unknown task field {name!r}")
    return TypeAdapter(Annotated[info.annotation, info])


def _checked_field(name: str, value: Any) -> Any:
    """One TaskSpec field checked on its own (None clears a choice); SpecError names the range."""
    if value is None:
        return None
    try:
        return _field_adapter(name).validate_python(value)
    except ValidationError as exc:
        raise SpecError(describe_errors(exc, TaskSpec, within=(name,))) from None


def _validated(model_cls: type, values: dict[str, Any]) -> Any:
    try:
        return model_cls.model_validate(values)
    except ValidationError as exc:
        raise SpecError(describe_errors(exc, model_cls)) from None
