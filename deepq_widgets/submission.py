"""What every way of starting a task checks before it is queued: the CLI (`deepq run`), the
Python API and the wizard all submit through `tasks.submit`, which calls `check_submission`.
Nothing invalid reaches the worker; each problem names the task-file field it is about.

The task file's own rules (ranges, the name's characters, how many windows) are checked when
it is parsed (`spec.py`); these are the ones that need the workspace: the network exists and
can do the task, the dataset exists and fits, the preset and the base model exist.
"""

from __future__ import annotations

from . import kinds
from .data.catalog import scan_dataset
from .data.windowing import FILE_WINDOW, resolve_window
from .dataset_fit import fit_problems
from .presets import Preset, get_preset
from .spec import Flow, SpecError, TaskSpec, name_problem
from .store import Store
from .workspace import WorkspaceError, WorkspacePaths
from .zoo.catalog import get as zoo_entry


def check_submission(workspace: WorkspacePaths, spec: TaskSpec) -> None:
    """Raise SpecError listing every reason `spec` cannot run in `workspace`."""
    problems = submission_problems(workspace, spec)
    if problems:
        raise SpecError(problems)


def submission_problems(workspace: WorkspacePaths, spec: TaskSpec) -> list[str]:
    problems = [f"name: {problem}" for problem in [name_problem(spec.name)] if problem]
    if kinds.is_local(spec.task):
        problems.append(
            f"task: kind {spec.task!r} was registered in this process only (kinds.register), so the worker would never "
            f"see it: publish it through the {kinds.GROUP!r} entry point of an installed package"
        )
    for window in spec.windows:
        if window != FILE_WINDOW:
            try:
                resolve_window(window)
            except ValueError as exc:
                problems.append(f"windows: {exc}")
    preset = None
    if spec.preset:
        try:
            preset = get_preset(spec.preset)
        except KeyError as exc:
            problems.append(f"preset: {exc.args[0]}")
    classes, network_problem = _network(workspace, spec)
    problems += [network_problem] if network_problem else []
    problems += _dataset(workspace, spec, preset, classes)
    return problems


def _network(workspace: WorkspacePaths, spec: TaskSpec) -> tuple[list[str] | None, str | None]:
    """The base model's classes (retraining), and what is wrong with the network, if anything."""
    if spec.flow is Flow.retrain:
        card = next((m for m in Store(workspace.db_path).models() if m.id == spec.model.base_model), None)
        if card is None:
            return None, f"model.base_model: no registered model {spec.model.base_model!r}"
        return list(card.classes), None
    if not spec.model.arch:
        return None, "model.arch: the task names no network (choose one, or let Auto select fill it in)"
    try:
        entry = zoo_entry(spec.model.arch)
    except KeyError as exc:
        return None, f"model.arch: {exc.args[0]}"
    if not kinds.get(spec.task).fits_network(entry):
        return None, f"model.arch: {entry.name} cannot do a {spec.task} task"
    return None, None


def _dataset(workspace: WorkspacePaths, spec: TaskSpec, preset: Preset | None, classes: list[str] | None) -> list[str]:
    if not spec.dataset:
        return ["dataset: the task names no dataset"]
    if spec.dataset not in workspace.dataset_names():
        return [f"dataset: no dataset {spec.dataset!r} in {workspace.datasets}"]
    try:
        info = scan_dataset(workspace, spec.dataset, corrected=spec.label_corrections)
    except (WorkspaceError, OSError, ValueError) as exc:
        return [f"dataset: {spec.dataset!r} cannot be read: {exc}"]
    return [f"dataset: {spec.dataset!r} cannot train this task: {reason}" for reason in fit_problems(info, spec.task, preset, classes)]
