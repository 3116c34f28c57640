"""A task file from the choices a user names: the one function behind `deepq spec` and `dq.spec`, and the one
table of those choices (`options()`), from which the `deepq spec` flags and the API's keyword list are made.

It drives the wizard's own model (no widgets), so a task built from code or from the command line
is checked by the same rules, with the same messages, as one clicked together in the dashboard.
Every field of `Hyperparameters` is a choice by its own name (`lr=3e-4`, `--batch-size 16`), with
its type, range and help from spec.py: a new hyperparameter needs no line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from . import kinds
from .autoplan import AUTO_DECIDES
from .context import workspace_context
from .spec import Flow, Hyperparameters, Modality, ModelChoice, Search, SearchMethod, SpecError, TaskSpec, Tuning
from .wizard import Wizard
from .workspace import WorkspacePaths


@dataclass(frozen=True)
class Option:
    """One choice: its keyword (and `--flag`), what it holds, and what it means."""

    name: str
    help: str
    type: type = str  # str, int, float or bool (a switch)
    values: Callable[[], list[str]] | None = None  # the allowed values, read when asked (kinds may be added)
    default: Any = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


TRIALS = 8  # a search's trials when none are named (the task file's own default, 1, is no search)


def _names(enum: type[Enum]) -> Callable[[], list[str]]:
    return lambda: [member.value for member in enum]


TASK_OPTIONS = (
    Option("task", "a task kind", values=kinds.names),
    Option("preset", "a Specialized preset id"),
    Option("dataset", "a workspace dataset"),
    Option("model", "arch.tag from the zoo (General) or a registry model id (Retrain)"),
    Option("pretrain", "pretraining source id, or 'none'", default="default"),
    Option("tuning", "Auto or Full Manual", values=_names(Tuning)),
    Option("modality", "Auto select's modality", values=_names(Modality)),
    Option("size", "Auto select model preference, 1 (small) to 5 (large)", int),
    Option("ensemble", "Auto: a 5-fold ensemble on datasets under 300 cases (about 3x the time)", bool),
    Option("search", "hyperparameter search method", values=_names(SearchMethod)),
    Option("trials", "search trials (1-48)", int, default=TRIALS),
    Option("image_size", "side of the square network input, in pixels (under Auto: the largest it may plan)", int),
    Option("operating_point", "where findings are called: youden (default), sensitivity:0.9 or specificity:0.95"),
    Option("seed", "random seed; the same seed reproduces the task", int),
    Option("name", "unique task name"),
    Option("devices", "train on this many GPUs in data parallel (CPU processes where there is no GPU)", int),
)


def hyper_options() -> tuple[Option, ...]:
    """An option per field of `Hyperparameters`, typed and described as spec.py says."""
    out = []
    for name, field in Hyperparameters.model_fields.items():
        kind = field.annotation if field.annotation in (int, float, bool) else str
        values = _names(field.annotation) if isinstance(field.annotation, type) and issubclass(field.annotation, Enum) else None
        out.append(Option(name, (field.description or "").rstrip("."), kind, values))
    return tuple(out)


def options() -> tuple[Option, ...]:
    """Every choice `build_spec` takes besides the flow, in the order `deepq spec --help` shows them."""
    return TASK_OPTIONS + hyper_options()


def build_spec(workspace: WorkspacePaths, flow: str, **chosen: Any) -> tuple[TaskSpec, Wizard]:
    """The task file, and the wizard that built it (its `forecast` says what will run), from `flow` and any of
    `options()` by name. `model` is a zoo `arch.tag` (General) or a registry model id (Retrain);
    `operating_point` is "youden" or "RULE:TARGET". Raises SpecError naming every choice that is wrong."""
    known = [o.name for o in options()]
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise SpecError([f"{name}: not a choice; choose from {', '.join(known)}" for name in unknown])
    given = {name: value for name, value in chosen.items() if value is not None}
    hyper = {name: given.pop(name) for name in list(given) if name in Hyperparameters.model_fields}
    wizard = Wizard(workspace_context(workspace))
    wizard.update(flow=flow)
    model, pretrain = given.pop("model", None), given.pop("pretrain", "default")
    fields = {k: given[k] for k in ("task", "preset", "dataset", "tuning", "seed", "devices", "image_size") if k in given}
    if model and flow == "specialized":
        raise SpecError(["model: the Specialized flow fixes the network; leave it out"])
    if model and flow == "retrain":
        fields["base_model"] = model
    elif model:
        fields["model"] = ModelChoice(arch=model, pretrain=pretrain)
        fields["tuning"] = fields.get("tuning") or "manual"
    fields["name"] = given.get("name") or f"{given.get('preset') or given.get('task') or flow}-{given.get('dataset') or 'task'}"
    wizard.update(**fields)
    if hyper:
        wizard.set_hyper(**hyper)
    if "search" in given:
        wizard.update(search=Search(method=given["search"], trials=given.get("trials", TRIALS)))
    auto = {k: given[k] for k in ("modality", "size", "ensemble") if k in given}
    if auto:
        wizard.set_auto(**auto)
    if "operating_point" in given:
        rule, _, target = given["operating_point"].partition(":")
        wizard.update(operating_point={"rule": rule} | ({"target": target} if target else {}))
    if "image_size" in given and wizard.draft.tuning is Tuning.auto and wizard.draft.flow is Flow.general:
        wizard.set_auto(max_side=given["image_size"])  # Auto's cap, below the network's own
    spec = wizard.spec()
    _refuse_overridden(spec, given, hyper)
    return spec, wizard


def _refuse_overridden(spec: TaskSpec, given: dict[str, Any], hyper: dict[str, Any]) -> None:
    """A choice the flow or Auto replaces would be dropped without a word: say so instead."""
    problems = []
    if spec.tuning is Tuning.auto:
        planned = [name for name in hyper if name in AUTO_DECIDES]
        problems += [f"{name}: Auto plans it from the data; leave it out, or choose tuning='manual'" for name in planned]
    if "image_size" in given and given["image_size"] != spec.image_size:
        if spec.flow is Flow.general:
            problems.append(f"image_size: Auto plans at most the network's {spec.image_size} px; ask for that or less")
        else:
            problems.append(f"image_size: the {spec.flow.value} flow sets it ({spec.image_size} px); leave it out")
    if problems:
        raise SpecError(problems)
