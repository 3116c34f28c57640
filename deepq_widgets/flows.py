"""What differs between the three flows of the wizard, one small object each.

General: the user picks the task, the dataset and the network (or lets Auto select do it).
Specialized: a preset fixes the task, classes, windows, network and tuned hyperparameters.
Retrain: a registered model fixes the task, classes, windows and network, and its weights
are where training starts. The wizard asks its flow; it never tests which flow it is in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import kinds
from .data.catalog import DatasetInfo
from .presets import Preset
from .spec import Flow, ModelChoice, Tuning

if TYPE_CHECKING:
    from .wizard import Wizard


class FlowRules:
    flow: Flow
    choice_step: str  # the step after the flow step: task, preset or base_model
    model_title = "Hyperparameter"  # the Model step's title

    def task_type(self, wizard: Wizard) -> str | None:
        raise NotImplementedError

    def preset(self, wizard: Wizard) -> Preset | None:
        return None

    def windows(self, wizard: Wizard) -> list[str]:
        return list(wizard.state.windows)

    def dataset_problem(self, wizard: Wizard, info: DatasetInfo, task: str) -> str | None:
        return kinds.get(task).dataset_problem(info)

    def model_problem(self, wizard: Wizard) -> str | None:
        return None  # the preset or the base model fixes the network

    def on_manual(self, wizard: Wizard) -> None:
        """Called when the user switches to Full Manual."""

    def fixed(self, wizard: Wizard) -> dict[str, Any]:
        """The TaskSpec fields this flow decides, over the user's draft."""
        return {}


class General(FlowRules):
    flow, choice_step, model_title = Flow.general, "task", "Model"

    def task_type(self, wizard: Wizard) -> str | None:
        return wizard.state.task

    def model_problem(self, wizard: Wizard) -> str | None:
        s = wizard.state
        if wizard.task_type() is None:
            return "Choose the task first."
        if s.tuning is Tuning.auto:
            if wizard.context.recommend is not None and wizard.recommendation() is None:
                return "No recommendation is available for this task."
            return None
        if not s.model.arch:
            return "Choose a network."
        if not wizard.context.known_arch(s.model.arch):
            return f"Unknown network {s.model.arch!r}."
        return None

    def on_manual(self, wizard: Wizard) -> None:
        rec = wizard.recommendation()  # Full Manual starts from the network Auto select would pick
        if rec is not None and not wizard.state.model.arch:
            wizard.state.model = ModelChoice(arch=rec.model)

    def fixed(self, wizard: Wizard) -> dict[str, Any]:
        rec = wizard.recommendation() if wizard.state.tuning is Tuning.auto else None
        if rec is None:
            return {}
        hyper = wizard.state.hyper.model_copy(update={"batch_size": rec.batch_size, "lr": rec.lr})
        return {"model": ModelChoice(arch=rec.model, pretrain="default"), "image_size": rec.image_size, "hyper": hyper}


class Specialized(FlowRules):
    flow, choice_step = Flow.specialized, "preset"

    def preset(self, wizard: Wizard) -> Preset | None:
        return wizard.context.presets.get(wizard.state.preset or "")

    def task_type(self, wizard: Wizard) -> str | None:
        preset = self.preset(wizard)
        return preset.task if preset else None

    def windows(self, wizard: Wizard) -> list[str]:
        preset = self.preset(wizard)
        return list(preset.windows) if preset else list(wizard.state.windows)

    def dataset_problem(self, wizard: Wizard, info: DatasetInfo, task: str) -> str | None:
        preset = self.preset(wizard)
        return preset.check_dataset(info) if preset else "Choose a preset first."

    def fixed(self, wizard: Wizard) -> dict[str, Any]:
        preset = self.preset(wizard)
        return {"model": preset.model, "image_size": preset.image_size, "preset": preset.id} if preset else {}


class Retrain(FlowRules):
    flow, choice_step = Flow.retrain, "base_model"

    def card(self, wizard: Wizard):
        return wizard.context.base_models().get(wizard.state.base_model or "")

    def task_type(self, wizard: Wizard) -> str | None:
        card = self.card(wizard)
        return card.task if card else None

    def windows(self, wizard: Wizard) -> list[str]:
        card = self.card(wizard)
        return list(card.windows) if card else []

    def dataset_problem(self, wizard: Wizard, info: DatasetInfo, task: str) -> str | None:
        problem = super().dataset_problem(wizard, info, task)
        card = self.card(wizard)
        if problem is None and card is not None and set(info.classes) != set(card.classes):
            return f"classes must match the base model ({', '.join(card.classes)}); found {', '.join(info.classes)}"
        return problem

    def fixed(self, wizard: Wizard) -> dict[str, Any]:
        card = self.card(wizard)
        return {"model": ModelChoice(arch=card.arch, base_model=card.id), "image_size": card.image_size} if card else {}


FLOWS: dict[Flow, FlowRules] = {rules.flow: rules for rules in (General(), Specialized(), Retrain())}
