"""Start: name (required, unique, checked live), description, the operating point, the task summary,
the plan that will run with its reasons, the task file, Start."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable

import ipywidgets as w

from .. import kinds
from ..autoplan import Plan, resolved_spec
from ..devices import gpu_devices
from ..duration import describe_seconds
from ..spec import OperatingPoint, OperatingRule, SpecError, TaskSpec, Tuning
from ..wizard import Forecast, Step, Wizard
from ..workspace import WorkspacePaths
from .base import StepView
from .child_commands import deepq
from .hyper_form import Section
from .style import download_link, esc

MEASURE_TIMEOUT_S = 180


class StartStep(StepView):
    step = Step.start

    def __init__(self, wizard: Wizard, on_start: Callable[[TaskSpec], None], workspace: WorkspacePaths):
        super().__init__(wizard)
        self.on_start, self.workspace = on_start, workspace
        self.name = w.Text(description="Task name", placeholder="required, unique", continuous_update=True, layout=w.Layout(width="480px"))
        self.description = w.Textarea(description="Description", placeholder="optional", layout=w.Layout(width="480px", height="70px"))
        self.check = w.HTML()
        self.summary = w.HTML()
        self.plan = w.HTML()
        self.duration = w.HTML()
        self.measure = w.Button(
            description="Measure this machine's speed", tooltip="A few timed training steps (seconds)", layout=w.Layout(width="auto")
        )
        self.measure.on_click(lambda _: self._measure())
        self.measuring = False
        self.download = w.HTML()
        self.point = Section(OperatingPoint, "operating_point", wizard.set_operating_point, wizard.refuse)
        self.point_box = w.VBox(
            [
                w.HTML(
                    "<b>Operating point</b><div class='dq-muted'>Where a finding is called positive: chosen on the validation "
                    "cases, stored with the model, used by predict and evaluate.</div>"
                ),
                w.HBox(self.point.rows(["rule", "target"])),
            ]
        )
        gpus = len(gpu_devices())
        self.devices = w.Dropdown(
            description="Devices",
            options=[("1 GPU", 1)] + [(f"{n} GPUs (data parallel)", n) for n in range(2, gpus + 1)],
            layout=w.Layout(display=None if gpus > 1 else "none"),  # one GPU or none: nothing to choose
        )
        self.changes.observe(self.devices, lambda _=None: self.wizard.update(devices=self.devices.value))
        self.start = w.Button(description="Start", button_style="primary", disabled=True)
        self.action = self.start  # shown by the shell beside Back
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
                self.point_box,
                self.devices,
                self.summary,
                self.plan,
                w.HBox([self.duration, self.measure]),
                self.download,
                self.result,
            ]
        )

    def _on_name(self, change=None) -> None:
        self.wizard.update(name=self.name.value)

    def _on_description(self, change=None) -> None:
        self.wizard.update(description=self.description.value)

    def _measure(self) -> None:
        """Time a few training steps of the planned network in a child process (no torch here), saying how long it
        has run, then show the estimate; a measurement that fails or runs past MEASURE_TIMEOUT_S says so."""
        forecast = self.wizard.forecast(self.wizard.spec(unnamed="unnamed"))
        plan = forecast.plan
        argv = ["--arch", forecast.spec.model.arch or "", "--size", str(plan.image_size), "--channels", str(forecast.channels)]
        self.measure.disabled, self.measuring, started = True, True, time.monotonic()
        done = threading.Event()

        def tick() -> None:
            while True:
                waited = time.monotonic() - started
                self.duration.value = f"<i>Measuring this machine's speed (a few timed training steps)… {waited:.0f} s</i>"
                if done.wait(1.0):
                    return

        def run() -> None:
            try:
                deepq(self.workspace, "throughput", *argv, "--batch", str(plan.hyper.batch_size), timeout=MEASURE_TIMEOUT_S)
                failed = ""
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                failed = (
                    f"The measurement did not finish within {MEASURE_TIMEOUT_S} s (is the machine busy?)"
                    if isinstance(exc, subprocess.TimeoutExpired)
                    else f"The measurement failed: {exc}"
                )
            done.set()
            ticking.join()  # its last "Measuring…" written before the result
            self.measuring = self.measure.disabled = False
            self.refresh()
            if failed:
                self.duration.value += f"<div class='dq-reason'>{esc(failed)}; the estimate above stays as it was.</div>"

        ticking = threading.Thread(target=tick, daemon=True)
        ticking.start()
        threading.Thread(target=run, daemon=True).start()

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
            if s.devices in {v for _, v in self.devices.options}:
                self.devices.value = s.devices
        self.point.show(s.operating_point, self.wizard.state.refused)
        self.point.fields["target"].disabled = s.operating_point.rule is OperatingRule.youden  # Youden's J has no target
        self.point_box.layout.display = None if self.wizard.operating_point_applies() else "none"
        reason = self.wizard.step_problem(Step.start)
        self.check.value = f"<div class='dq-reason'>{esc(reason)}</div>" if reason else "<div class='dq-ok'>✓ name available</div>"
        try:
            spec = self.wizard.spec(unnamed="unnamed")  # the summary and plan show before a name is typed
        except SpecError as exc:
            self.summary.value = f"<div class='dq-muted'>Complete the earlier steps: {esc(exc)}</div>"
            self.plan.value = self.duration.value = self.download.value = ""
            self.start.disabled = True
            return
        forecast = self.wizard.forecast(spec)
        plan = forecast.plan if forecast else None
        self.summary.value = summary(spec, plan)
        self.plan.value = plan_html(plan) if plan else ""
        if not self.measuring:
            self.duration.value = duration_html(forecast)
        measured = forecast is not None and forecast.speed is not None and forecast.speed.measured
        self.measure.layout.display = "none" if measured or plan is None else None
        named = reason is None
        self.download.value = task_files(spec, forecast) if named else ""
        self.start.disabled = not named


def duration_html(forecast: Forecast | None) -> str:
    """How long the run takes: at most so long where this machine's speed was measured, else a likely range and
    what it comes from."""
    if forecast is None or forecast.seconds is None:
        return ""
    seconds, speed = forecast.seconds, forecast.speed
    if speed is None or speed.measured:
        return f"<b>Takes at most {describe_seconds(seconds)} on this machine</b> (early stopping may end it sooner)."
    low, high = describe_seconds(seconds / speed.spread), describe_seconds(seconds * speed.spread)
    return (
        f"<b>Takes {describe_seconds(seconds)}</b> ({low.removeprefix('about ')} to {high.removeprefix('about ')}; "
        f"{esc(speed.basis)}). Measure this machine's speed for a firm figure."
    )


def task_files(spec: TaskSpec, forecast: Forecast | None) -> str:
    """The task file of what will run (Full Manual with the plan's settings, as "What will run" says: the settings a
    methods section reports), and the file as submitted where it differs. A rate the finder picks at run time is
    not known yet: then the submitted file is the one that plans this run again."""
    submitted = spec.to_json().encode()
    as_submitted = download_link(f"{spec.name}.json", submitted, "application/json", "Download the task file (TaskSpec JSON)")
    if forecast is None:
        return as_submitted
    if forecast.plan.lr_find_iters:
        return as_submitted + (
            "<div class='dq-muted'>It plans the run above again; its learning rate is found at run time, and the task's page "
            "then offers the task file as run.</div>"
        )
    will_run = resolved_spec(spec, forecast.plan, spec.model.arch or "").to_json().encode()
    link = download_link(f"{spec.name}.json", will_run, "application/json", "Download the task file that will run (TaskSpec JSON)")
    if will_run == submitted:
        return link
    return link + " · " + download_link(f"{spec.name}.submitted.json", submitted, "application/json", "as submitted")


def summary(spec: TaskSpec, plan: Plan | None = None) -> str:
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
        ("Head", kinds.get(spec.task).head or "–"),
        ("Image size", image_size_text(spec, plan)),
        ("Windows", ", ".join(spec.windows) or "file / none"),
        ("Tuning", tuning),
        ("Validation", f"{h.valid_pct}%"),
        ("Devices", devices_text(spec.devices)),
        ("Seed", spec.seed),
    ]
    body = "".join(f"<tr><td>{esc(k)}</td><td style='text-align:left'>{esc(v)}</td></tr>" for k, v in rows)
    return f"<h3>Summary</h3><table class='dq-table'>{body}</table>"


def devices_text(devices: int) -> str:
    """What `devices` means on this machine (the plan says what the worker's machine makes of it)."""
    gpus = len(gpu_devices())
    if devices == 1:
        return "1 (one GPU)" if gpus else "1 (the CPU)"
    if gpus:
        return f"{min(devices, gpus)} GPUs in data parallel" + (f" ({devices} asked for; {gpus} here)" if devices > gpus else "")
    return f"{devices} CPU processes in data parallel (no GPU here)"


def image_size_text(spec: TaskSpec, plan: Plan | None) -> str:
    if plan is None or plan.image_size == spec.image_size:
        return f"{spec.image_size} px"
    return f"{plan.image_size} px (planned from the images; at most {spec.image_size})"


def plan_html(plan: Plan) -> str:
    """The plan that will run, and why: what Auto read from the dataset and chose."""
    h = plan.hyper
    settings = (
        f"{plan.image_size} px, batch {h.batch_size}, up to {h.epochs} epochs, lr {h.lr:g} ({h.schedule.value})"
        + (", early stopping" if h.early_stop else "")
        + (", the last epoch's weights kept" if h.last_weights else "")
        + (f"; a {h.folds}-fold ensemble" if h.folds > 1 else "")
    )
    notes = "".join(f"<li>{esc(n)}</li>" for n in plan.notes)
    return f"<h3>What will run</h3><p>{esc(settings)}</p><ul class='dq-muted'>{notes}</ul>"
