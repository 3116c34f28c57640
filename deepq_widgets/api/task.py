"""A submitted task, from a notebook cell: its state, waiting with a progress bar, stop and resume, its
epochs as a DataFrame, its curves, and the same insight the dashboard's task detail shows."""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING, Any

from .. import kinds, report
from ..contracts import EpochEvent
from ..store import ENDED, ERROR, Store, TaskRow
from ..tasks import ensure_worker, reap_interrupted, resume, stop, worker_alive
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
        evaluation = report.load_evaluation(self.workspace.task_dir(self.id))
        return Html(report.build_report(task, self.store.events(self.id), evaluation), title=f"{task.name} report")

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
