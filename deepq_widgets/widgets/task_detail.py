"""Task detail: the task file, data statistics, the plan, the fit diagnosis and the evaluation."""

from __future__ import annotations

import ipywidgets as w

from .. import kinds, report
from ..contracts import AnyEvent, DataEvent, EpochEvent, PlanEvent, ran_as
from ..evaluations import read_label_issues
from ..insight import class_balance, diagnose_fit
from ..spec import TaskSpec
from ..store import Store
from ..workspace import WorkspacePaths
from .evaluation_view import EvaluationView
from .label_review import LabelReview
from .style import download_link, esc


class TaskDetail:
    def __init__(self, workspace: WorkspacePaths):
        self.workspace = workspace
        self.spec, self.data, self.training, self.download = w.HTML(), w.HTML(), w.HTML(), w.HTML()
        self.evaluation = EvaluationView()
        self.labels = LabelReview(workspace)
        evaluation = w.VBox([self.download, self.evaluation.widget])
        self.sections = w.Accordion(children=[self.spec, self.data, self.training, evaluation, self.labels.widget])
        for i, title in enumerate(["Task file", "Data statistics", "Training insight", "Evaluation insight", "Label review"]):
            self.sections.set_title(i, title)
        self.widget = self.sections
        self._shown: tuple | None = None

    def show(self, task_id: int | None, store: Store) -> None:
        if task_id is None:
            return
        task = store.task(task_id)
        events = store.events(task_id)
        key = (task_id, task.state, len(events))
        if key == self._shown:
            return
        self._shown = key
        self.spec.value = task_file_html(task.name, task.spec, events)
        self.data.value = report.data_statistics_html(events, kinds.shown(task.spec.task))
        epochs = [e for e in events if isinstance(e, EpochEvent)]
        verdict, why = diagnose_fit(epochs)
        plans = [e.plan for e in events if isinstance(e, PlanEvent)]  # the latest: what a resumed run trains with
        notes = "".join(f"<li>{esc(n)}</li>" for n in (plans[-1].notes if plans else []))
        balance = class_balance(next((e.statistics for e in events if isinstance(e, DataEvent)), None))
        balance_html = f"<p>{esc(balance)}</p>" if balance else ""
        self.training.value = f"<b>{esc(verdict.capitalize())}</b>: {esc(why)}{balance_html}<ul class='dq-muted'>{notes}</ul>"
        self.labels.show(task)
        evaluation = report.load_evaluation(self.workspace.task_dir(task_id))
        self.evaluation.show(evaluation, empty="<i>The evaluation appears when the task finishes.</i>")
        self.download.value = ""
        if evaluation is not None:
            html_report = report.build_report(task, events, evaluation, read_label_issues(self.workspace.task_dir(task_id))).encode()
            self.download.value = download_link(f"{task.name}-report.html", html_report, "text/html", "report (HTML)")


def task_file_html(name: str, submitted: TaskSpec, events: list[AnyEvent]) -> str:
    """The task file that repeats the run (once planned) to download and read, and the one submitted."""
    run = ran_as(submitted, events)
    submitted_json = submitted.model_dump_json(indent=2)
    if run == submitted:
        link = download_link(f"{name}.json", submitted_json.encode(), "application/json", "task file")
        return link + report.settings_html(submitted)
    original = download_link(f"{name}-submitted.json", submitted_json.encode(), "application/json", "task file as submitted")
    run_json = run.model_dump_json(indent=2)
    link = download_link(f"{name}.json", run_json.encode(), "application/json", "task file as run")
    return (
        f"{link} · {original}<div class='dq-muted'>As run: Full Manual with the settings the plan chose; "
        "running it again with the same seed repeats this run.</div>" + report.settings_html(run)
    )
