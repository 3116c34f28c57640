"""A submitted task, from a notebook cell: its state, waiting with a progress bar, stop and resume, its
epochs as a DataFrame, its curves, and the same insight the dashboard's task detail shows."""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import kinds, report
from ..contracts import EpochEvent, LabelIssue
from ..store import ENDED, ERROR, Store, TaskRow
from ..tasks import ensure_worker, reap_interrupted, rerun_with_corrections, resume, stop, worker_alive
from ..workspace import WorkspacePaths
from .display import Html, badge

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from .model import Model


class TaskFailed(RuntimeError):
    """The task ended in Error; the message is its error, `traceback` the worker's traceback."""

    def __init__(self, task: TaskRow):
        self.traceback = task.traceback
        super().__init__(f"task #{task.id} {task.name} failed: {task.error}")


class Task:
    """A handle on one task of a workspace; every property reads the store afresh."""

    def __init__(self, workspace: WorkspacePaths, task_id: int):
        self.workspace, self.id = workspace, task_id
        self.store = Store(workspace.db_path)

    @property
    def row(self) -> TaskRow:
        return self.store.task(self.id)

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def state(self) -> str:
        """waiting, running, finished, stopped or error."""
        reap_interrupted(self.store)
        return self.row.state

    def wait(self, progress: bool = True, timeout: float | None = None, poll_s: float = 1.0) -> Task:
        """Block until the task ends, with a progress bar (a widget in JupyterLab, text in a terminal).
        Starts a worker when the task waits and none runs; raises TaskFailed if it ends in Error and
        TimeoutError after `timeout` seconds (the task goes on)."""
        from tqdm.auto import tqdm

        deadline = None if timeout is None else time.monotonic() + timeout
        bar = tqdm(total=100, desc=self.name, unit="%", bar_format="{l_bar}{bar}| {postfix}", disable=not progress)
        try:
            while True:
                task = self.row
                if task.state not in ENDED and self.store.has_waiting() and not worker_alive(self.workspace):
                    ensure_worker(self.workspace)
                bar.n = round(100 * task.progress)
                bar.set_postfix_str(f"{task.state}, epoch {task.epoch}/{task.epochs or '?'}")
                if self.state in ENDED:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"task #{self.id} is still {task.state} after {timeout:g} s")
                time.sleep(poll_s)
        finally:
            bar.close()
        if self.row.state == ERROR:
            raise TaskFailed(self.row)
        return self

    def stop(self) -> Task:
        """Ask the worker to stop after the current step; the task becomes Stopped and can be resumed."""
        stop(self.workspace, self.id)
        return self

    def resume(self) -> Task:
        """Queue a Stopped or failed task again; it continues from its last checkpoint."""
        resume(self.workspace, self.id)
        return self

    def history(self) -> pd.DataFrame:
        """One row per epoch: losses, learning rate, seconds, the headline figures, and whether it was the best."""
        import pandas as pd

        rows = [
            {"epoch": e.epoch + 1, "train_loss": e.train_loss, "valid_loss": e.valid_loss, **e.metrics.headline}
            | {"lr": e.lr, "seconds": e.seconds, "best": e.best}
            for e in self.store.events(self.id, EpochEvent)
        ]
        return pd.DataFrame(rows)

    def plot(self) -> Figure:
        """Loss and validation figures over the epochs, as a matplotlib figure (shown when it ends a cell)."""
        from matplotlib.figure import Figure

        history = self.history()
        figure = Figure(figsize=(10, 3.2), layout="constrained")
        loss, figures = figure.subplots(1, 2)
        if not history.empty:
            history.plot(x="epoch", y=["train_loss", "valid_loss"], ax=loss, marker=".")
            headline = [n for n in kinds.shown(self.row.spec.task).headline if n in history]
            history.plot(x="epoch", y=headline, ax=figures, marker=".")
        loss.set_title("Loss")
        figures.set_title("Validation figures")
        return figure

    def insight(self) -> Html:
        """The task's report: task file, data statistics, fit diagnosis, evaluation with intervals, charts, gallery."""
        task = self.row
        from ..evaluations import read_label_issues

        folder = self.workspace.task_dir(self.id)
        found = read_label_issues(folder)
        return Html(
            report.build_report(task, self.store.events(self.id), report.load_evaluation(folder), found), title=f"{task.name} report"
        )

    def label_issues(self, refresh: bool = False) -> pd.DataFrame:
        """The cases of the task's dataset whose label is probably wrong (confident learning on out-of-sample
        predictions), most suspect first: case, given, suggested, confidence. Found once and kept; `refresh` looks
        again. Mark them with `correct_labels`, then `rerun_with_corrections`."""
        import pandas as pd

        from ..evaluations import read_card, read_label_issues

        found = None if refresh else read_label_issues(self.workspace.task_dir(self.id))
        if found is None:
            from ..training.label_issues import find_label_issues

            task = self.row
            if not task.model_id:
                raise ValueError(f"task {self.id} has no model yet ({task.state})")
            found = find_label_issues(self.workspace, self.id, task.spec, read_card(self.workspace, task.model_id))
        return pd.DataFrame([issue.model_dump() for issue in found.issues], columns=list(LabelIssue.model_fields))

    def correct_labels(self, decisions: dict[str, str]) -> Path:
        """Record a reviewer's label for each case (`{case: label}`, the case as `label_issues` names it; its given
        label keeps it) in the dataset's label_corrections.csv; label.csv is never edited."""
        from ..data.catalog import scan_dataset
        from ..data.corrections import Correction, case_name, record_corrections

        info = scan_dataset(self.workspace, self.row.spec.dataset)
        given = {case_name(c, info.path): c.labels[0] for c in info.usable if len(c.labels) == 1}
        unknown = sorted(set(decisions) - set(given))
        if unknown:
            raise KeyError(f"not single-label cases of {info.name}: {', '.join(unknown[:5])}")
        return record_corrections(info.path, [Correction(case, given[case], label) for case, label in decisions.items()], info.classes)

    def rerun_with_corrections(self) -> Task:
        """The same task file as run, on the corrected labels, as a new task ('<name> corrected')."""
        return Task(self.workspace, rerun_with_corrections(self.workspace, self.id))

    @property
    def model(self) -> Model | None:
        """The registered model, once the task has finished."""
        from .model import Model

        model_id = self.row.model_id
        return Model(self.workspace, model_id) if model_id else None

    def summary(self) -> dict[str, Any]:
        return self.row.summary()

    def __repr__(self) -> str:
        task = self.row
        return f"<Task #{task.id} {task.name!r} {task.state} {task.progress:.0%}>"

    def _repr_html_(self) -> str:
        task = self.row
        figures = report.headline_text(task.metrics, kinds.shown(task.spec.task).headline)
        return (
            f"<div><b>#{task.id} {html.escape(task.name)}</b> {badge(task.state)} · {task.progress:.0%} · "
            f"epoch {task.epoch}/{task.epochs or '?'} · {html.escape(kinds.shown(task.spec.task).title)} on "
            f"{html.escape(task.spec.dataset)}<div>{html.escape(figures)}</div>"
            + (f"<div style='color:#b3261e'>{html.escape(task.error)}</div>" if task.error else "")
            + "</div>"
        )
