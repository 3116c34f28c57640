"""Start: name (required, unique, checked live), description, the task summary, its JSON, Start."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from .. import kinds
from ..spec import SpecError, TaskSpec, Tuning
from ..wizard import Step, Wizard
from .base import StepView
from .style import download_link, esc


class StartStep(StepView):
    step = Step.start

    def __init__(self, wizard: Wizard, on_start: Callable[[TaskSpec], None]):
        super().__init__(wizard)
        self.on_start = on_start
        self.name = w.Text(description="Task name", placeholder="required, unique", continuous_update=True, layout=w.Layout(width="480px"))
        self.description = w.Textarea(description="Description", placeholder="optional", layout=w.Layout(width="480px", height="70px"))
        self.check = w.HTML()
        self.summary = w.HTML()
        self.download = w.HTML()
        self.start = w.Button(description="Start", button_style="primary", disabled=True)
        self.result = w.HTML()
        self.changes.observe(self.name, self._on_name)
        self.changes.observe(self.description, self._on_description)
        self.start.on_click(self._on_start)
        self.widget = w.VBox(
            [
                w.HTML("<h2>Start training task</h2>"),
                self.name,
                self.check,
                self.description,
                self.summary,
                self.download,
                w.HBox([self.start]),
                self.result,
            ]
        )

    def _on_name(self, change=None) -> None:
        self.wizard.update(name=self.name.value)

    def _on_description(self, change=None) -> None:
        self.wizard.update(description=self.description.value)

    def _on_start(self, _=None) -> None:
        try:
            spec = self.wizard.spec()
        except SpecError as exc:
            self.result.value = f"<div class='dq-reason'>{esc(exc)}</div>"
            return
        self.start.disabled = True
        try:
            self.on_start(spec)
        except Exception as exc:  # shown, never swallowed: e.g. a name taken meanwhile
            self.result.value = f"<div class='dq-reason'>Could not start: {esc(exc)}</div>"
            self.start.disabled = False

    def refresh(self) -> None:
        s = self.wizard.draft
        with self.changes.quiet():
            self.name.value, self.description.value = s.name, s.description
        reason = self.wizard.step_problem(Step.start)
        self.check.value = f"<div class='dq-reason'>{esc(reason)}</div>" if reason else "<div class='dq-ok'>✓ name available</div>"
        try:
            spec = self.wizard.spec()
        except SpecError as exc:
            self.summary.value = f"<div class='dq-muted'>Complete the earlier steps: {esc(exc)}</div>"
            self.download.value, self.start.disabled = "", True
            return
        self.summary.value = summary(spec)
        self.download.value = download_link(
            f"{spec.name}.json", spec.to_json().encode(), "application/json", "Download the task file (TaskSpec JSON)"
        )
        self.start.disabled = False


def summary(spec: TaskSpec) -> str:
    h = spec.hyper
    tuning = (
        "Auto (optimized hyperparameters)"
        if spec.tuning is Tuning.auto
        else (
            f"Full Manual: batch {h.batch_size}, {h.epochs} epochs, lr {h.lr:g} ({h.schedule.value}), weight decay {h.weight_decay:g}, "
            f"momentum {h.momentum:g}, early stop {'on' if h.early_stop else 'off'}"
        )
    )
    network = (
        spec.model.base_model and f"retrain {spec.model.base_model}"
    ) or f"{spec.model.arch or 'chosen by Auto select at start'} ({spec.model.pretrain})"
    rows = [
        ("Flow", spec.flow.value),
        ("Task", kinds.get(spec.task).title),
        ("Preset", spec.preset or "–"),
        ("Dataset", spec.dataset),
        ("Network", network),
        ("Image size", f"{spec.image_size} px"),
        ("Windows", ", ".join(spec.windows) or "file / none"),
        ("Tuning", tuning),
        ("Validation", f"{h.valid_pct}%"),
        ("Seed", spec.seed),
    ]
    body = "".join(f"<tr><td>{esc(k)}</td><td style='text-align:left'>{esc(v)}</td></tr>" for k, v in rows)
    return f"<h3>Summary</h3><table class='dq-table'>{body}</table>"
