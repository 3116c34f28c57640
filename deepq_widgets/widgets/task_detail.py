"""Task detail: the task file, data statistics, the plan, the fit diagnosis and the evaluation."""

from __future__ import annotations

import ipywidgets as w

from .. import kinds, report
from ..contracts import AnyEvent, DataEvent, DataProblemsEvent, EpochEvent, PlanEvent, ran_as
from ..insight import class_balance, diagnose_fit
from ..spec import TaskSpec
from ..store import Store
from ..workspace import Workspace
from .style import download_link, esc


class TaskDetail:
    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.spec, self.data, self.training, self.evaluation = w.HTML(), w.HTML(), w.HTML(), w.HTML()
        self.charts = w.HBox(layout=w.Layout(flex_flow="row wrap"))  # wraps at 1024 px instead of clipping
        self.gallery = w.HTML()
        self.sections = w.Accordion(children=[self.spec, self.data, self.training, w.VBox([self.evaluation, self.charts, self.gallery])])
        for i, title in enumerate(["Task file", "Data statistics", "Training insight", "Evaluation insight"]):
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
        self.data.value = data_html(events, kinds.get(task.spec.task))
        epochs = [e for e in events if isinstance(e, EpochEvent)]
        verdict, why = diagnose_fit(epochs)
        plans = [e.plan for e in events if isinstance(e, PlanEvent)]  # the latest: what a resumed run trains with
        notes = "".join(f"<li>{esc(n)}</li>" for n in (plans[-1].notes if plans else []))
        balance = class_balance(next((e.statistics for e in events if isinstance(e, DataEvent)), None))
        balance_html = f"<p>{esc(balance)}</p>" if balance else ""
        self.training.value = f"<b>{esc(verdict.capitalize())}</b>: {esc(why)}{balance_html}<ul class='dq-muted'>{notes}</ul>"
        evaluation = report.load_evaluation(self.workspace.task_dir(task_id))
        if evaluation is None:
            self.evaluation.value = "<i>The evaluation appears when the task finishes.</i>"
            self.charts.children, self.gallery.value = [], ""
            return
        html_report = report.build_report(task, events, evaluation)
        download = download_link(f"{task.name}-report.html", html_report.encode(), "text/html", "report (HTML)")
        self.evaluation.value = download + report.figures_html(evaluation.metrics, "validation") + report.per_class_html(evaluation)
        self.charts.children = [
            w.Image(value=png, format="png", layout=w.Layout(max_width="100%", height="auto")) for png in report.charts(evaluation).values()
        ]
        self.gallery.value = report.gallery_html(evaluation)


def data_html(events: list[AnyEvent], kind: kinds.TaskKind) -> str:
    data = next((e.statistics for e in events if isinstance(e, DataEvent)), None)
    if data is None:
        return "<i>Data statistics appear once the data is prepared.</i>"
    rows = "".join(f"<tr><td>{esc(c)}</td><td>{n}</td><td>{data.valid_counts.get(c, 0)}</td></tr>" for c, n in data.train_counts.items())
    extra = "".join(f"<p>{esc(line)}</p>" for line in kind.describe_statistics(data))
    problems = [p for e in events if isinstance(e, DataProblemsEvent) for p in e.problems] + data.problems
    problem_html = "<div class='dq-problem'>" + "<br>".join(esc(p) for p in problems[:10]) + "</div>" if problems else ""
    return (
        f"<p>{data.train} training and {data.valid} validation cases. {esc(data.split)}</p>"
        f"<table class='dq-table'><tr><th>class</th><th>train</th><th>valid</th></tr>{rows}</table>{extra}{problem_html}"
    )


def task_file_html(name: str, submitted: TaskSpec, events: list[AnyEvent]) -> str:
    """The task file that repeats the run (once planned) to download and read, and the one submitted."""
    run = ran_as(submitted, events)
    submitted_json = submitted.model_dump_json(indent=2)
    if run == submitted:
        link = download_link(f"{name}.json", submitted_json.encode(), "application/json", "task file")
        return f"{link}<pre style='font-size:11px'>{esc(submitted_json)}</pre>"
    original = download_link(f"{name}-submitted.json", submitted_json.encode(), "application/json", "task file as submitted")
    run_json = run.model_dump_json(indent=2)
    link = download_link(f"{name}.json", run_json.encode(), "application/json", "task file as run")
    return (
        f"{link} · {original}<div class='dq-muted'>As run: Full Manual with the settings the plan chose; "
        f"running it again with the same seed repeats this run.</div><pre style='font-size:11px'>{esc(run_json)}</pre>"
    )
