"""The notebook API's entry point: a workspace whose datasets, tasks and models come back as DataFrames
and handles. It calls the same functions as the dashboard and the `deepq` commands."""

from __future__ import annotations

import html
import os
from typing import TYPE_CHECKING, Any

from .. import workspace as folders
from ..choices import build_spec, options
from ..spec import TaskSpec
from ..store import Store
from ..tasks import submit
from .display import Html
from .model import Model
from .pacs import Pacs
from .task import Task

if TYPE_CHECKING:
    import pandas as pd


class Workspace:
    """`dq.Workspace(path)`: datasets, tasks and models of one workspace folder (default $DEEPQ_WORKSPACE or ./workspace)."""

    def __init__(self, path: str | os.PathLike | folders.WorkspacePaths | None = None):
        self.folder = path if isinstance(path, folders.WorkspacePaths) else folders.WorkspacePaths(path)
        self.root = self.folder.root
        self.store = Store(self.folder.db_path)

    # -- datasets ----------------------------------------------------------------------------------
    def datasets(self, task: str | None = None) -> pd.DataFrame:
        """One row per dataset: annotation, usable cases, classes, format and problems; with `task`, whether it fits."""
        import pandas as pd

        from ..data.catalog import scan_workspace

        rows = []
        for info in scan_workspace(self.folder):
            row = {k: v for k, v in info.to_dict().items() if k in ("name", "annotation", "layout", "cases", "classes", "format")}
            row["problems"] = len(info.problems)
            if task is not None:
                row["fits"], row["why not"] = info.fit(task)
            rows.append(row)
        return pd.DataFrame(rows).set_index("name") if rows else pd.DataFrame()

    def preview(self, name: str, page: int = 0, show_identifiers: bool = False) -> Any:
        """A page of thumbnails of a dataset with its labels, boxes and masks drawn (patient identifiers hidden unless asked)."""
        from IPython.display import Image

        from ..data.catalog import scan_dataset
        from ..data.preview import render_preview

        return Image(render_preview(scan_dataset(self.folder, name), page=page, show_identifiers=show_identifiers))

    # -- tasks ---------------------------------------------------------------------------------------
    def spec(self, flow: str = "general", **choices: Any) -> TaskSpec:
        """A task file checked as the wizard and `deepq spec` check it (same rules, same messages); see `dq.spec`."""
        return build_spec(self.folder, flow, **choices)[0]

    def submit(self, spec: TaskSpec | dict[str, Any], start_worker: bool = True) -> Task:
        """Queue the task (validated at submit, like every entry point) and start a worker; returns its handle."""
        if isinstance(spec, dict):
            from ..spec import parse_spec

            spec = parse_spec(spec)
        return Task(self.folder, submit(self.folder, spec, start_worker=start_worker))

    def task(self, task: int | str) -> Task:
        """A task by number or by name."""
        if isinstance(task, str):
            found = [t.id for t in self.store.tasks() if t.name == task]
            if not found:
                raise KeyError(f"no task named {task!r}")
            task = found[0]
        self.store.task(task)  # refuses an unknown number
        return Task(self.folder, task)

    def tasks(self) -> pd.DataFrame:
        """One row per task: state, progress, epochs, headline figures with intervals, the model it registered."""
        import pandas as pd

        rows = [{k: v for k, v in t.summary().items() if k != "metrics"} | t.metrics for t in self.store.tasks()]
        return pd.DataFrame(rows).set_index("id") if rows else pd.DataFrame()

    # -- models --------------------------------------------------------------------------------------
    def model(self, model_id: str) -> Model:
        return Model(self.folder, model_id)

    def models(self) -> pd.DataFrame:
        """One row per registered model: task, network, classes, dataset, validation figures with intervals."""
        import pandas as pd

        rows = [
            {
                "id": m.id,
                "task": m.task,
                "arch": m.arch,
                "members": m.members,
                "classes": ", ".join(m.classes),
                "dataset": m.dataset,
                "source_task": m.source_task,
            }
            | m.metrics.flat()
            for m in self.store.models()
        ]
        return pd.DataFrame(rows).set_index("id") if rows else pd.DataFrame()

    # -- the PACS -----------------------------------------------------------------------------------
    def pacs(self, url: str | None = None, user: str | None = None, password: str | None = None) -> Pacs:
        """A DICOMweb server (default $DEEPQ_PACS_URL, $DEEPQ_PACS_USER, $DEEPQ_PACS_PASSWORD): search it, import
        studies as a de-identified dataset, send a model's results back."""
        from ..pacs.server import PacsServer

        return Pacs(self.folder, PacsServer.from_environment(url, user, password))

    def dashboard(self) -> Any:
        """The create-task dashboard of this workspace, in the notebook."""
        from ..app import build_app

        return build_app(self.folder)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    def _repr_html_(self) -> str:
        tasks, models = self.store.tasks(), self.store.models()
        names = self.folder.dataset_names()
        return (
            f"<div><b>Workspace</b> {html.escape(str(self.root))}<div>{len(names)} datasets · {len(tasks)} tasks "
            f"({sum(t.state == 'running' for t in tasks)} running) · {len(models)} models</div></div>"
        )


def spec(workspace: str | os.PathLike | Workspace | None = None, flow: str = "general", **choices: Any) -> TaskSpec:
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    return ws.spec(flow, **choices)


spec.__doc__ = (  # the choices are the table `deepq spec` makes its flags from: one list, never out of date
    '`dq.spec(flow="general", task="single_label", dataset="ultrasound_lesions", tuning="auto", name=...)`: a task file '
    "built and checked exactly as the wizard and `deepq spec` build it. Choices:\n"
    + "\n".join(f"    {o.name}: {o.help}" for o in options())
)


__all__ = ["Html", "Workspace", "spec"]
