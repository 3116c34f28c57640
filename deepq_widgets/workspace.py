"""The workspace: one folder that holds datasets, tasks, models and the SQLite store.

Every path a user gives is resolved inside it; anything that escapes is refused, so a
task file cannot make the worker read or write elsewhere on the machine.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_WORKSPACE = "workspace"
ENV_VAR = "DEEPQ_WORKSPACE"


class WorkspaceError(ValueError):
    """A path refused by the workspace, or a workspace that cannot be used."""


class WorkspacePaths:
    """A folder with `datasets/`, `tasks/`, `models/`, `weights/` and `deepq.sqlite`."""

    SUBDIRS = ("datasets", "tasks", "models", "weights")

    def __init__(self, path: str | os.PathLike | None = None, create: bool = True):
        raw = path or os.environ.get(ENV_VAR) or DEFAULT_WORKSPACE
        self.root = Path(raw).expanduser().resolve()
        if create:
            for sub in self.SUBDIRS:
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        elif not self.root.is_dir():
            raise WorkspaceError(f"workspace {self.root} does not exist")

    def __repr__(self) -> str:
        return f"WorkspacePaths({str(self.root)!r})"

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def tasks(self) -> Path:
        return self.root / "tasks"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def weights(self) -> Path:
        return self.root / "weights"

    @property
    def pacs(self) -> Path:
        """`pacs/<dataset>/`: a PACS import's de-identification key, its study mapping and report, kept apart from
        the dataset (the mapping re-identifies it)."""
        return self.root / "pacs"

    @property
    def db_path(self) -> Path:
        return self.root / "deepq.sqlite"

    def resolve(self, path: str | os.PathLike, base: Path | None = None) -> Path:
        """Resolve `path` (relative to `base`, default the root) and refuse it if it leaves the workspace."""
        p = Path(path).expanduser()
        full = (p if p.is_absolute() else (base or self.root) / p).resolve()
        if not full.is_relative_to(self.root):
            raise WorkspaceError(f"path {str(path)!r} is outside the workspace {self.root}; refused")
        return full

    def report_path(self, path: str | os.PathLike) -> Path:
        """Where the user asked for an HTML report: in the workspace, an .html file, and never inside the
        folders the product keeps its own data in (a report named `deepq.sqlite` would replace the store)."""
        full = self.resolve(path)
        if full.suffix.lower() not in (".html", ".htm"):
            raise WorkspaceError(f"a report is an .html file; {str(path)!r} is not")
        kept = (self.datasets, self.tasks, self.models, self.weights, self.pacs)
        if any(full.is_relative_to(folder) for folder in kept):
            names = ", ".join(f"{f.name}/" for f in kept)
            raise WorkspaceError(f"{str(path)!r} is inside the workspace's own data ({names}); choose another place")
        return full

    def task_dir(self, task_id: int) -> Path:
        """`tasks/<id>/`: the task file, checkpoints, evaluation and logs of one task (made on first use)."""
        folder = self.tasks / str(int(task_id))
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def model_dir(self, model_id: str) -> Path:
        """`models/<id>/` of a registered model; an id that would leave `models/` is refused."""
        folder = self.resolve(model_id, base=self.models)
        if folder.parent != self.models:
            raise WorkspaceError(f"model id {model_id!r} must name a folder directly under {self.models}")
        return folder

    def dataset_dir(self, name: str) -> Path:
        """The folder of a dataset, by name (a sub-folder of `datasets/`)."""
        path = self.resolve(name, base=self.datasets)
        if path.parent != self.datasets:
            raise WorkspaceError(f"dataset name {name!r} must be a folder directly under {self.datasets}")
        return path

    def dataset_names(self) -> list[str]:
        return sorted(p.name for p in self.datasets.iterdir() if p.is_dir() and not p.name.startswith("."))
