"""Where a model's evaluations and inference runs on datasets are kept, and reading them back (no torch).

`deepq evaluate` (training/dataset_evaluation.py) writes models/<id>/evaluations/<dataset>.json and
`deepq predict --dataset` models/<id>/inferences/<dataset>.json (the latest run on each dataset);
the Models tab, `deepq models --json` and the report read them here.
"""

from __future__ import annotations

from pathlib import Path

from .contracts import CaseScores, DatasetEvaluation, InferenceRun, LabelIssues, ModelCard, TrainingManifest
from .files import atomic_write_text
from .workspace import WorkspacePaths

MANIFEST = "training_cases.json"  # the TrainingManifest beside model.json
CASE_SCORES = "case_scores.json"  # a classifier task's CaseScores, in its task folder
LABEL_ISSUES = "label_issues.json"  # its LabelIssues, once looked for


def evaluations_dir(workspace: WorkspacePaths, model_id: str) -> Path:
    return workspace.model_dir(model_id) / "evaluations"


def evaluation_path(workspace: WorkspacePaths, model_id: str, dataset: str) -> Path:
    """`models/<id>/evaluations/<dataset>.json`; a dataset name that is not one folder's name is refused."""
    return evaluations_dir(workspace, model_id) / f"{workspace.dataset_dir(dataset).name}.json"


def stored_evaluations(workspace: WorkspacePaths, model_id: str) -> list[DatasetEvaluation]:
    """The evaluations of a model on datasets, newest first."""
    folder = evaluations_dir(workspace, model_id)
    found = [DatasetEvaluation.model_validate_json(p.read_text()) for p in folder.glob("*.json")] if folder.is_dir() else []
    return sorted(found, key=lambda e: e.created, reverse=True)


def record_inference(workspace: WorkspacePaths, run: InferenceRun) -> Path:
    """Keep `run` as the model's latest inference run on its dataset."""
    path = workspace.model_dir(run.model_id) / "inferences" / f"{run.dataset}.json"
    path.parent.mkdir(exist_ok=True)
    atomic_write_text(run.model_dump_json(), path)
    return path


def stored_inferences(workspace: WorkspacePaths, model_id: str) -> list[InferenceRun]:
    """The model's inference runs on datasets, newest first."""
    folder = workspace.model_dir(model_id) / "inferences"
    found = [InferenceRun.model_validate_json(p.read_text()) for p in folder.glob("*.json")] if folder.is_dir() else []
    return sorted(found, key=lambda run: run.created, reverse=True)


def read_card(workspace: WorkspacePaths, model_id: str) -> ModelCard:
    """A registered model's model.json."""
    path = workspace.model_dir(model_id) / "model.json"
    if not path.is_file():
        raise KeyError(f"no registered model {model_id!r} in {workspace.models}")
    return ModelCard.model_validate_json(path.read_text())


def read_manifest(workspace: WorkspacePaths, model_id: str) -> TrainingManifest | None:
    path = workspace.model_dir(model_id) / MANIFEST
    return TrainingManifest.model_validate_json(path.read_text()) if path.is_file() else None


def read_case_scores(task_folder: Path) -> CaseScores | None:
    path = task_folder / CASE_SCORES
    return CaseScores.model_validate_json(path.read_text()) if path.is_file() else None


def read_label_issues(task_folder: Path) -> LabelIssues | None:
    path = task_folder / LABEL_ISSUES
    return LabelIssues.model_validate_json(path.read_text()) if path.is_file() else None


def summary(evaluation: DatasetEvaluation) -> dict:
    """One line of a model's evaluations for JSON and tables: dataset, figures with `*_ci`, cases, warnings."""
    return {"dataset": evaluation.dataset, "created": evaluation.created, **evaluation.metrics.flat(), "overlap": evaluation.overlap}
