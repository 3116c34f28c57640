"""A task file from the choices a user names: the one function behind `deepq spec` and `dq.spec`.

It drives the wizard's own model (no widgets), so a task built from code or from the command line
is checked by the same rules, with the same messages, as one clicked together in the dashboard.
"""

from __future__ import annotations

from .context import workspace_context
from .spec import ModelChoice, Search, SpecError, TaskSpec
from .wizard import Wizard
from .workspace import Workspace


def build_spec(
    workspace: Workspace,
    flow: str,
    *,
    task: str | None = None,
    preset: str | None = None,
    dataset: str | None = None,
    model: str | None = None,
    pretrain: str = "default",
    tuning: str | None = None,
    modality: str | None = None,
    size: int | None = None,
    ensemble: bool = False,
    epochs: int | None = None,
    search: str | None = None,
    trials: int = 8,
    image_size: int | None = None,
    operating_point: str | None = None,
    seed: int | None = None,
    name: str | None = None,
    devices: int | None = None,
) -> tuple[TaskSpec, Wizard]:
    """The task file, and the wizard that built it (its `forecast` says what will run). `model` is a zoo
    `arch.tag` (General) or a registry model id (Retrain); `operating_point` is "youden" or "RULE:TARGET".
    Raises SpecError naming every field that is wrong."""
    wizard = Wizard(workspace_context(workspace))
    wizard.update(flow=flow)
    choices = {"task": task, "preset": preset, "dataset": dataset, "tuning": tuning, "seed": seed, "devices": devices}
    if model and flow == "specialized":
        raise SpecError(["model: the Specialized flow fixes the network; leave it out"])
    if model and flow == "retrain":
        choices["base_model"] = model
    elif model:
        choices["model"] = ModelChoice(arch=model, pretrain=pretrain)
        choices["tuning"] = tuning or "manual"
    if image_size:
        choices["image_size"] = image_size
    choices["name"] = name or f"{preset or task or flow}-{dataset or 'task'}"
    wizard.update(**{k: v for k, v in choices.items() if v is not None})
    if epochs:
        wizard.set_hyper(epochs=epochs)
    if search:
        wizard.update(search=Search(method=search, trials=trials))
    if modality or size or ensemble:
        wizard.set_auto(**{k: v for k, v in {"modality": modality, "size": size, "ensemble": ensemble or None}.items() if v is not None})
    if operating_point:
        rule, _, target = operating_point.partition(":")
        wizard.update(operating_point={"rule": rule} | ({"target": target} if target else {}))
    return wizard.spec(), wizard
