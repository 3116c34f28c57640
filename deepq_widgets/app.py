"""build_app(): the one place where the views are wired to the wizard, the store and the worker.

The app shows at once: nothing here imports torch or fastai, datasets are scanned in a
background thread, and training runs in the worker process. A poller thread keeps the task
list, monitor and detail current, and re-attaches to running tasks after a page reload.
"""

from __future__ import annotations

import os
from typing import Any

import ipywidgets as w

from .context import CatalogCache, workspace_context
from .spec import TaskSpec
from .store import RUNNING, WAITING, Store
from .tasks import WorkerFailed, ensure_worker, reap_interrupted, submit, worker_alive
from .widgets.base_model_step import BaseModelStep
from .widgets.dataset_step import DatasetStep
from .widgets.flow_step import FlowStep
from .widgets.model_list import ModelList
from .widgets.model_step import ModelStep
from .widgets.monitor import Monitor
from .widgets.pacs_panel import PacsPanel
from .widgets.poller import PageActivity, Poller, page_idle_seconds
from .widgets.preset_step import PresetStep
from .widgets.shell import WizardShell
from .widgets.start_step import StartStep
from .widgets.style import esc, stylesheet
from .widgets.task_detail import TaskDetail
from .widgets.task_list import TaskList
from .widgets.task_step import TaskStep
from .wizard import Step, Wizard, WizardState
from .workspace import WorkspacePaths

PREHEAT_ENV = "VOILA_PREHEAT"  # "True" in a kernel Voilà starts ahead of a page (its preheat pool)
TABS = ["Create new task", "Tasks", "Models"]


class App:
    """The dashboard. Display it in a notebook cell, or serve the notebook with Voilà."""

    def __init__(self, workspace: WorkspacePaths, poll_interval: float = 1.0, start_worker: bool = True):
        self.workspace, self.start_worker = workspace, start_worker
        self.store = Store(workspace.db_path)
        self.catalog = CatalogCache(workspace)
        self.wizard = Wizard(workspace_context(workspace, self.catalog))
        steps = (FlowStep, TaskStep, PresetStep, BaseModelStep, DatasetStep, ModelStep)
        views = [view(self.wizard) for view in steps] + [StartStep(self.wizard, self.start_task, workspace)]
        self.views = {view.step: view for view in views}
        datasets = self.views[Step.dataset]
        datasets.add_source(PacsPanel(workspace, imported=datasets.choose_if_fitting).widget)
        self.shell = WizardShell(self.wizard, self.views)
        self.wizard.observe(lambda _: (self.shell.refresh(), self._clear_done_notice()))
        self.task_list = TaskList(self.follow)
        self.monitor = Monitor(workspace)
        self.detail = TaskDetail(workspace)
        self.models = ModelList(self.store, workspace, self.retrain, workspace.dataset_names)
        self.notice = w.HTML()
        self.tabs = w.Tab(
            children=[self.shell.widget, w.VBox([self.task_list.widget, self.monitor.widget, self.detail.widget]), self.models.widget]
        )
        for i, title in enumerate(TABS):
            self.tabs.set_title(i, title)
        header = w.HTML(
            f"<h2>DeepQ training tasks</h2><div class='dq-muted'>workspace {esc(workspace.root.name)}</div>"
        )  # not the server's path
        self.widget = w.VBox([stylesheet(), header, self.notice, self.tabs])
        self.widget.add_class("dq-app")
        self.shell.refresh()
        self.catalog.warm(then=self._datasets_ready)
        self.refresh_tasks()
        self._reattach()
        self.activity = PageActivity()
        self.poller = Poller(self.refresh_tasks, poll_interval, alive=self._watched).start()

    # -- actions ------------------------------------------------------------------------------------
    def start_task(self, spec: TaskSpec) -> int:
        task_id = submit(self.workspace, spec, start_worker=False)
        self.wizard.state = WizardState()
        self.shell.refresh()
        self.refresh_tasks()
        self.tabs.selected_index = 1
        self.task_list.select(task_id)
        self.notice.value = f"<div class='dq-ok'>Task #{task_id} {esc(spec.name)!s} created; it runs outside this notebook.</div>"
        if self.start_worker:
            self._start_worker()
        return task_id

    def _clear_done_notice(self) -> None:
        """'Task #N created' goes once the user starts on something else (warnings stay)."""
        if "dq-ok" in self.notice.value:
            self.notice.value = ""

    def _start_worker(self) -> None:
        """A worker that cannot start is said above the tabs (the task waits), not retried every poll."""
        try:
            ensure_worker(self.workspace)
        except WorkerFailed as exc:
            self.notice.value = f"<div class='dq-reason'>Tasks are waiting: {esc(exc)}</div>"

    def follow(self, task_id: int | None) -> None:
        self.monitor.show(task_id)
        self.detail.show(task_id, self.store)

    def retrain(self, model_id: str) -> None:
        self.wizard.update(flow="retrain")
        self.wizard.update(base_model=model_id, step=Step.base_model)
        self.tabs.selected_index = 0

    # -- polling --------------------------------------------------------------------------------------
    def refresh_tasks(self) -> None:
        reap_interrupted(self.store)
        if self.start_worker and self.store.has_waiting() and not worker_alive(self.workspace):
            self._start_worker()
        self.task_list.refresh_from(self.store)
        self.monitor.update(self.store)
        self.detail.show(self.monitor.task_id, self.store)
        self.models.refresh()

    def _reattach(self, show: bool = False) -> None:
        """Follow the newest running task, else the newest waiting one, unless the one followed is one of them; with
        `show` (a page just opened) its monitor comes to the front even when it was followed already."""
        active = self.store.tasks((RUNNING,)) or self.store.tasks((WAITING,))
        if not active:
            return
        if self.monitor.task_id not in {t.id for t in active}:
            self.task_list.select(active[0].id)
            show = True
        if show:
            self.tabs.selected_index = 1

    def wait_for_page(self) -> None:
        """Under Voilà's preheated kernels (`deepq serve`) the notebook runs before anyone opens the page:
        wait here until a page claims this kernel, then catch up with what happened meanwhile. Elsewhere
        (JupyterLab, a plain Voilà) the page is already open and this returns at once."""
        if os.environ.get(PREHEAT_ENV) != "True":
            return
        from voila.utils import wait_for_request

        wait_for_request()
        self.page_opened()

    def page_opened(self) -> None:
        """A page now shows this app (built before anyone used it): a fresh idle clock, polling again if it had
        paused, and the page a fresh load shows now: the running (else waiting) task if there is one, else the wizard."""
        self.activity.touch()
        if not self.poller.thread.is_alive():
            self.notice.value = ""
            self.poller = Poller(self.refresh_tasks, self.poller.interval, alive=self._watched).start()
        self.refresh_tasks()
        self.tabs.selected_index = 0  # what the build followed may have ended since
        self._reattach(show=True)  # a task running (or waiting) when the page opens shows, followed before or not

    def _datasets_ready(self) -> None:
        if self.wizard.state.step is Step.dataset:
            self.shell.refresh()

    def _watched(self) -> bool:
        """Keep polling while the page is open and in use; once idle, say so and stop (the kernel may then be culled)."""
        if self.widget.comm is None:
            return False
        if self.activity.idle_for() < page_idle_seconds():
            return True
        minutes = page_idle_seconds() / 60
        self.notice.value = (
            f"<div class='dq-muted'>Updates paused after {minutes:.0f} minutes without use; training goes on. "
            "Reload the page to follow your tasks again.</div>"
        )
        return False

    def close(self) -> None:
        self.poller.stop()
        self.widget.close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def build_app(workspace: str | os.PathLike | WorkspacePaths | None = None, **kwargs: Any) -> App:
    """The dashboard for `workspace` (default: $DEEPQ_WORKSPACE or ./workspace)."""
    workspace = getattr(workspace, "folder", workspace)  # the notebook API's dq.Workspace holds the folder
    ws = workspace if isinstance(workspace, WorkspacePaths) else WorkspacePaths(workspace)
    return App(ws, **kwargs)
