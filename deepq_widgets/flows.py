"""What differs between the three flows of the wizard, one small object each.

General: the user picks the task, the dataset and the network (or lets Auto select do it).
Specialized: a preset fixes the task, classes, windows, network and tuned hyperparameters.
Retrain: a registered model fixes the task, classes, windows and network, and its weights
are where training starts. The wizard asks its flow; it never tests which flow it is in.
"""

from __future__ import annotations

from typing import Any

from . import kinds
from .contracts import ModelCard
from .data.catalog import DatasetInfo
from .dataset_fit import fit_problems
from .presets import Preset
from .spec import Flow, ModelChoice, Tuning
from .wizard_context import Drafting


class FlowRules:
    flow: Flow
    choice_step: str  # the step after the flow step, and the draft change that chooses it: task, preset or base_model
    model_title = "Hyperparameter"  # the Model step's title
    picks_network = False  # whether the user chooses the network (else the choice fixes it)

    def choose(self, wizard: Drafting, value: str) -> dict[str, Any]:
        """The draft fields that choosing `value` on the choice step sets."""
        raise NotImplementedError

    def settle(self, wizard: Drafting, changed: set[str]) -> dict[str, Any]:
        """Draft fields that follow from the fields just changed."""
        return {}

    def preset(self, wizard: Drafting) -> Preset | None:
        return None

    def dataset_problem(self, wizard: Drafting, info: DatasetInfo, task: str) -> str | None:
        return "; ".join(fit_problems(info, task)) or None

    def model_problem(self, wizard: Drafting) -> str | None:
        return None  # the preset or the base model fixes the network

    def fixed_network(self, wizard: Drafting) -> str | None:
        """One sentence on the network this flow fixes, for the Model step."""
        return None

    def fixed(self, wizard: Drafting) -> dict[str, Any]:
        """The TaskSpec fields this flow decides, over the user's draft."""
        return {}


class General(FlowRules):
    flow, choice_step, model_title, picks_network = Flow.general, "task", "Model", True

    def choose(self, wizard: Drafting, value: str) -> dict[str, Any]:
        return {"task": kinds.get(value).name}

    def settle(self, wizard: Drafting, changed: set[str]) -> dict[str, Any]:
        # Full Manual starts from the network Auto select would pick.
        if "tuning" in changed and wizard.draft.tuning is Tuning.manual and not wizard.draft.model.arch:
            rec = wizard.recommendation()
            return {"model": ModelChoice(arch=rec.model)} if rec else {}
        return {}

    def model_problem(self, wizard: Drafting) -> str | None:
        d = wizard.draft
        if wizard.task_type() is None:
            return "Choose the task first."
        if d.tuning is Tuning.auto:
            if wizard.context.recommend is not None and wizard.recommendation() is None:
                return "No recommendation is available for this task."
            return None
        if not d.model.arch:
            return "Choose a network."
        if not wizard.context.known_arch(d.model.arch):
            return f"Unknown network {d.model.arch!r}."
        return None

    def fixed(self, wizard: Drafting) -> dict[str, Any]:
        rec = wizard.recommendation() if wizard.draft.tuning is Tuning.auto else None
        if rec is None:
            return {}
        hyper = wizard.draft.hyper.model_copy(update={"batch_size": rec.batch_size, "lr": rec.lr})
        side = min(rec.image_size, wizard.draft.auto.max_side or rec.image_size)  # Auto plans at most this
        return {"model": ModelChoice(arch=rec.model, pretrain="default"), "image_size": side, "hyper": hyper}


class Specialized(FlowRules):
    flow, choice_step = Flow.specialized, "preset"

    def choose(self, wizard: Drafting, value: str) -> dict[str, Any]:
        preset = wizard.context.presets.get(value)
        if preset is None:
            return {"preset": value, "task": None, "dataset": None}
        return {
            "preset": preset.id,
            "task": preset.task,
            "hyper": preset.hyper.model_copy(),
            "augment": preset.augment.model_copy(),
            "image_size": preset.image_size,
            "windows": list(preset.windows),
            "model": preset.model.model_copy(),
            "dataset": None,
        }

    def preset(self, wizard: Drafting) -> Preset | None:
        return wizard.context.presets.get(wizard.draft.preset or "")

    def dataset_problem(self, wizard: Drafting, info: DatasetInfo, task: str) -> str | None:
        preset = self.preset(wizard)
        return "; ".join(fit_problems(info, task, preset)) or None if preset else "Choose a preset first."

    def fixed_network(self, wizard: Drafting) -> str | None:
        p = self.preset(wizard)
        return f"Network fixed by the preset: {p.model.arch}, {p.image_size} px, windows {', '.join(p.windows)}." if p else None

    def fixed(self, wizard: Drafting) -> dict[str, Any]:
        preset = self.preset(wizard)
        return {"model": preset.model, "image_size": preset.image_size, "windows": list(preset.windows)} if preset else {}


class Retrain(FlowRules):
    flow, choice_step = Flow.retrain, "base_model"

    def card(self, wizard: Drafting) -> ModelCard | None:
        return wizard.context.base_models().get(wizard.draft.model.base_model or "")

    def choose(self, wizard: Drafting, value: str) -> dict[str, Any]:
        card = wizard.context.base_models().get(value)
        if card is None:
            return {"model": ModelChoice(base_model=value), "task": None, "dataset": None}
        return {
            "model": ModelChoice(arch=card.arch, base_model=card.id),
            "task": card.task,
            "image_size": card.image_size,
            "windows": list(card.windows),
            "dataset": None,
        }

    def dataset_problem(self, wizard: Drafting, info: DatasetInfo, task: str) -> str | None:
        card = self.card(wizard)
        return "; ".join(fit_problems(info, task, base_classes=card.classes if card else None)) or None

    def fixed_network(self, wizard: Drafting) -> str | None:
        card = self.card(wizard)
        return f"Training starts from {card.name} ({card.arch})." if card else None

    def fixed(self, wizard: Drafting) -> dict[str, Any]:
        card = self.card(wizard)
        if card is None:
            return {}
        return {"model": ModelChoice(arch=card.arch, base_model=card.id), "image_size": card.image_size, "windows": list(card.windows)}


FLOWS: dict[Flow, FlowRules] = {rules.flow: rules for rules in (General(), Specialized(), Retrain())}
