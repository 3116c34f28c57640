"""Label review in the task detail: the cases whose label is probably wrong (found on request in a child process,
`deepq label-issues`), each with its picture, its given and suggested label and the confidence; the reviewer marks
each kept or relabelled, the decisions go to the dataset's label_corrections.csv (label.csv is never edited), and
one click runs the task again on them."""

from __future__ import annotations

import threading

import ipywidgets as w

from .. import kinds, report
from ..contracts import LabelIssues
from ..data.catalog import scan_dataset
from ..data.corrections import Correction, read_corrections, record_corrections
from ..evaluations import read_label_issues
from ..store import FINISHED, TaskRow
from ..tasks import rerun_with_corrections
from ..workspace import WorkspacePaths
from .child_commands import deepq
from .style import esc

SHOWN = 24  # the most suspect cases reviewed on the page; the rest are in label_issues.json and `deepq label-issues`
UNDECIDED = "–"


class LabelReview:
    def __init__(self, workspace: WorkspacePaths):
        self.workspace = workspace
        self.task: TaskRow | None = None
        self.found: LabelIssues | None = None
        self.summary = ""  # what the search found, kept above what was done with it
        self.folder, self.classes = workspace.root, []  # the reviewed dataset's folder and classes
        fitted = w.Layout(width="auto")  # the whole label, at any window width
        tip = "Confident learning on out-of-sample predictions"
        self.find = w.Button(description="Find likely label errors", tooltip=tip, layout=fitted)
        self.save = w.Button(description="Save decisions", disabled=True, layout=fitted)
        self.rerun = w.Button(description="Retrain with corrections", button_style="primary", disabled=True, layout=fitted)
        self.status = w.HTML()
        self.cards = w.Box(layout=w.Layout(display="flex", flex_flow="row wrap"))
        self.choices: dict[str, w.Dropdown] = {}
        self.find.on_click(lambda _: self._start_finding())
        self.save.on_click(lambda _: self._save())
        self.rerun.on_click(lambda _: self._rerun())
        intro = w.HTML(
            "<div class='dq-muted'>Cases whose label the predictions of networks that never trained on them contradict "
            "(confident learning). Keep or relabel each; decisions are saved beside the dataset in label_corrections.csv.</div>"
        )
        self.widget = w.VBox([intro, w.HBox([self.find, self.save, self.rerun]), self.status, self.cards])

    def show(self, task: TaskRow) -> None:
        """The review of `task`: what was found before (kept in its folder), and whether it can be looked for."""
        if self.task is not None and self.task.id == task.id and self.task.state == task.state:
            return
        self.task = task
        reviewable = kinds.shown(task.spec.task).label_review
        self.find.disabled = not (reviewable and task.state == FINISHED and task.model_id)
        self.find.tooltip = "" if reviewable else "This kind of task has no single label per case to review."
        self._render(read_label_issues(self.workspace.task_dir(task.id)))

    def _start_finding(self) -> None:
        task = self.task
        self.find.disabled = True
        self.status.value = "<i>Looking for likely label errors…</i>"

        def run() -> None:
            try:
                found = LabelIssues.model_validate_json(deepq(self.workspace, "label-issues", str(task.id), "--json"))
            except Exception as exc:  # shown, never swallowed
                self.status.value = f"<div class='dq-reason'>{esc(exc)}</div>"
            else:
                if self.task is task:
                    self._render(found)
            self.find.disabled = False

        threading.Thread(target=run, daemon=True).start()

    def _render(self, found: LabelIssues | None) -> None:
        self.found, self.choices = found, {}
        if found is None:
            self.status.value, self.cards.children = "", []
            self.save.disabled = self.rerun.disabled = True
            return
        info = scan_dataset(self.workspace, found.dataset)
        self.folder, self.classes = info.path, info.classes
        decided = read_corrections(info.path)
        shown = found.issues[:SHOWN]
        more = f" The {SHOWN} most suspect are shown." if len(found.issues) > SHOWN else ""
        self.summary = (
            f"<p><b>{len(found.issues)} likely label errors</b> among {found.examined} cases, from {esc(found.source)}.{more}</p>"
        )
        self.status.value = self.summary
        cards = []
        for issue in shown:
            options = [(UNDECIDED, None), (f"keep {issue.given}", issue.given)]
            options += [(f"relabel as {c}", c) for c in info.classes if c != issue.given]
            choice = w.Dropdown(options=options, layout=w.Layout(width="190px"))
            if (d := decided.get(issue.case)) is not None and d.label in info.classes:
                choice.value = d.label
            choice.observe(lambda _: self._decided(), "value")
            self.choices[issue.case] = choice
            caption = (
                f"<div class='dq-muted' style='width:190px'>{esc(issue.case)}<br>given <b>{esc(issue.given)}</b>, probably "
                f"<b>{esc(issue.suggested)}</b> ({issue.confidence:.2f})</div>"
            )
            picture = f"<img src='{report.thumbnail(issue.shown, 150)}' alt='{esc(issue.case)}'>"
            cards.append(w.VBox([w.HTML(picture + caption), choice], layout=w.Layout(margin="4px")))
        self.cards.children = cards
        self._decided()

    def _decided(self) -> None:
        self.save.disabled = not any(c.value is not None for c in self.choices.values())
        saved = read_corrections(self.folder) if self.found is not None else {}
        self.rerun.disabled = not any(c.relabels for c in saved.values())

    def _save(self) -> None:
        issues = {i.case: i for i in self.found.issues}
        decisions = [Correction(case, issues[case].given, c.value) for case, c in self.choices.items() if c.value is not None]
        try:
            path = record_corrections(self.folder, decisions, self.classes)
        except ValueError as exc:
            self.status.value += f"<div class='dq-reason'>{esc(exc)}</div>"
            return
        relabelled = sum(d.relabels for d in decisions)
        self.status.value = self.summary + (  # what was found stays said
            f"<div class='dq-ok'>{len(decisions)} decision{'s' if len(decisions) != 1 else ''} saved ({relabelled} relabelled) to "
            f"{esc(path.relative_to(self.workspace.root))}.</div>"
        )
        self._decided()

    def _rerun(self) -> None:
        try:
            task_id = rerun_with_corrections(self.workspace, self.task.id)
        except Exception as exc:  # shown, never swallowed
            self.status.value = self.summary + f"<div class='dq-reason'>{esc(exc)}</div>"
            return
        self.rerun.disabled = True
        done = f"<div class='dq-ok'>Task #{task_id} submitted: the same task file on the corrected labels.</div>"
        self.status.value = self.summary + done
