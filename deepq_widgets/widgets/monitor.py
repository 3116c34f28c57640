"""The live monitor of one task: progress, epoch, elapsed and compute time, loss and metric curves, Stop.

`update()` is called from the poller thread. It only writes a widget when its value
changes, so an idle dashboard sends nothing and its kernel can be culled.
"""

from __future__ import annotations

import time

import ipywidgets as w

from .. import kinds
from ..contracts import EpochEvent, StatusEvent
from ..insight import loss_chart, metric_chart
from ..report import headline_text
from ..store import RUNNING, WAITING, Store, TaskRow
from ..tasks import stop
from ..workspace import WorkspacePaths
from .style import esc


def duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Monitor:
    def __init__(self, workspace: WorkspacePaths):
        self.workspace = workspace
        self.task_id: int | None = None
        self.header = w.HTML()
        self.progress = w.FloatProgress(min=0, max=1, description="Progress", layout=w.Layout(width="520px"))
        self.status = w.HTML()
        self.stop = w.Button(description="Stop", button_style="danger", disabled=True)
        self.loss_plot = w.Image(format="png", layout=w.Layout(display="none"))  # shown from the first epoch: no broken icon
        self.metric_plot = w.Image(format="png", layout=w.Layout(display="none"))
        self.error = w.HTML()
        self.stop.on_click(self._on_stop)
        self.widget = w.VBox(
            [self.header, w.HBox([self.progress, self.stop]), self.status, w.HBox([self.loss_plot, self.metric_plot]), self.error]
        )
        self._epochs_drawn = -1
        self._said, self._said_after = "", 0  # the worker's latest status line, read incrementally

    def show(self, task_id: int | None) -> None:
        self.task_id, self._epochs_drawn = task_id, -1
        self._said, self._said_after = "", 0
        self.loss_plot.value = self.metric_plot.value = b""
        self.loss_plot.layout.display = self.metric_plot.layout.display = "none"
        self.update(Store(self.workspace.db_path))

    def _on_stop(self, _=None) -> None:
        if self.task_id is not None:
            stop(self.workspace, self.task_id)
            self.stop.disabled = True
            self.stop.description = "Stopping…"

    def update(self, store: Store) -> None:
        if self.task_id is None:
            _set(self.header, "value", "<i>Select a task to follow it.</i>")
            return
        task = store.task(self.task_id)
        _set(
            self.header, "value", f"<h3>{esc(task.name)} <span class='dq-badge dq-state-{task.state}'>{task.state.capitalize()}</span></h3>"
        )
        _set(self.progress, "value", task.progress)
        epochs = task.epochs or "?"
        text = (
            f"Epoch {task.epoch} / {epochs} · elapsed {duration(task.elapsed(time.time()))} · compute {duration(task.compute_s)}"
            + "".join(f" · {esc(part)}" for part in [headline_text(task.metrics, kinds.shown(task.spec.task).headline)] if part)
            + "".join(f"<div class='dq-warn'>⚠ {esc(task.metrics[said])}</div>" for said in ("chance", "warning") if task.metrics.get(said))
        )
        epochs_done = store.events(task.id, EpochEvent)
        said = self._latest_status(store, task)
        if epochs_done and epochs_done[-1].id > self._said_after:
            said = ""  # said before the latest epoch ("decoding 180 of 180 cases"): done with, not shown under "Epoch 7"
        _set(self.status, "value", f"<div class='dq-muted'>{text}</div>" + (f"<div class='dq-muted'>{esc(said)}</div>" if said else ""))
        active = task.state in (WAITING, RUNNING)
        _set(self.stop.layout, "display", None if active else "none")  # an ended task has nothing to stop
        _set(self.stop, "disabled", task.stop_requested)
        _set(self.stop, "description", "Stopping…" if task.stop_requested else "Stop")
        _set(self.error, "value", error_html(task))
        self._draw_curves(epochs_done)

    def _latest_status(self, store: Store, task: TaskRow) -> str:
        """What the worker says it is doing (preparing, decoding 12,000 of 20,000 cases, refitting), while it runs."""
        found = store.events(task.id, StatusEvent, after=self._said_after)
        if found:
            self._said, self._said_after = found[-1].message, found[-1].id
        return self._said if task.state == RUNNING else ""

    def _draw_curves(self, epochs: list[EpochEvent]) -> None:
        if len(epochs) == self._epochs_drawn:
            return
        self._epochs_drawn = len(epochs)
        if not epochs:
            return
        self.loss_plot.value = loss_chart(epochs)
        self.metric_plot.value = metric_chart(epochs)
        self.loss_plot.layout.display = self.metric_plot.layout.display = None


def error_html(task: TaskRow) -> str:
    if not task.error:
        return ""
    trace = (
        f"<details><summary>Traceback</summary><pre style='font-size:11px'>{esc(task.traceback)}</pre></details>" if task.traceback else ""
    )
    return f"<div class='dq-reason'>{esc(task.error)}</div>{trace}"


def _set(widget: w.Widget, name: str, value) -> None:
    """Assign only on change: an unchanged dashboard sends no messages."""
    if getattr(widget, name) != value:
        setattr(widget, name, value)
