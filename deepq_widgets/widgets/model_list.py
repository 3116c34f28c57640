"""The model registry and the page of the selected model (DeepQ's model detail): the headline figure,
the model report with its validation/training toggle, the evaluations on labelled datasets, the
inference list with thumbnails; and "Retrain this model", export, evaluate and predict.

Export, evaluation and prediction need torch, which the dashboard kernel never imports: they run as
`deepq` commands in a child process on a thread, so the page stays responsive.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import ipywidgets as w

from .. import kinds, serving
from ..contracts import DatasetEvaluation, InferenceRun, Metrics, ModelCard
from ..data.readers import ReaderError
from ..evaluations import evaluation_path, stored_evaluations, stored_inferences
from ..intervals import format_figure
from ..paper_card import card_files
from ..report import dataset_evaluation_html, evaluation_report, figure_cell, load_evaluation, png_uri
from ..store import Store
from ..workspace import WorkspacePaths
from .child_commands import deepq
from .evaluation_view import EvaluationView
from .pacs_send import PacsSend
from .predictions import PredictionsView, overlay_thumbnail
from .style import download_link, esc, table

MAX_DOWNLOAD_BYTES = 32 * 2**20  # embedded in the page (base64 in the widget state) only up to this
MIME = {".onnx": "application/octet-stream", ".json": "application/json", ".safetensors": "application/octet-stream"}
PROGRESS_LINE = re.compile(r"(decoding|scoring) (\d+)/(\d+)")  # what `deepq evaluate` writes to stderr


class ModelList:
    def __init__(self, store: Store, workspace: WorkspacePaths, on_retrain: Callable[[str], None], datasets: Callable[[], list[str]]):
        self.store, self.workspace, self.on_retrain, self.datasets = store, workspace, on_retrain, datasets
        self.busy, self._lock = False, threading.Lock()
        self.choice = w.Select(options=[], rows=8, layout=w.Layout(width="100%"))
        self.retrain = w.Button(description="Retrain this model", button_style="primary", disabled=True)
        self.format = w.Dropdown(options=["onnx", "torchscript", "safetensors"], description="Export as", layout=w.Layout(width="220px"))
        self.export = w.Button(description="Export", disabled=True)
        self.dataset = w.Dropdown(options=[("Choose a dataset…", None)], description="Run on", layout=w.Layout(width="320px"))
        self.run = w.Button(description="Predict", disabled=True)
        self.evaluate = w.Button(description="Evaluate on dataset", disabled=True, tooltip="Score the model on a labelled dataset")
        self.evaluations = w.HTML()
        self.report_title = w.HTML("<h3>Model report</h3>", layout=w.Layout(display="none"))
        self.report = EvaluationView()
        self.inferences = w.HTML()
        self.inference = w.Dropdown(options=[], description="Show run", layout=w.Layout(width="420px", display="none"))
        self.bar = w.FloatProgress(min=0, max=1, layout=w.Layout(width="520px", display="none"))
        self.result = w.HTML()
        self.predictions = PredictionsView(workspace)
        self.to_pacs = PacsSend(workspace)
        self.info = w.HTML()
        self.choice.observe(lambda change: (self._show(), self._show_model_page(), self.predictions.clear()), "value")
        self.dataset.observe(lambda change: self._show(), "value")
        for chosen in (self.choice, self.dataset):
            chosen.observe(lambda change: self.to_pacs.show_for(self.choice.value, self.dataset.value), "value")
        self.inference.observe(lambda change: self._show_inference(), "value")
        self.retrain.on_click(lambda _: self.on_retrain(self.choice.value))
        self.export.on_click(lambda _: self._background(self._export))
        self.run.on_click(lambda _: self._background(self._predict))
        self.evaluate.on_click(lambda _: self._background(self._evaluate))
        self.widget = w.VBox(
            [
                w.HTML("<h2>Models</h2>"),
                self.choice,
                w.HBox([self.retrain, self.format, self.export]),
                w.HBox([self.dataset, self.evaluate, self.run]),
                self.to_pacs.widget,
                self.evaluations,
                self.report_title,
                self.report.widget,
                self.inferences,
                self.inference,
                self.bar,
                self.result,
                self.predictions.widget,
                self.info,
            ]
        )

    def refresh(self) -> None:
        models = self.store.models()
        flagged = " — ⚠ not shown better than chance"
        options = [(f"{m.name} — {m.task} — {m.network}" + flagged * bool(m.metrics.chance), m.id) for m in models]
        if options != list(self.choice.options):
            self.choice.options = options
        rows = [
            {"model": m.id, "task": m.task, "network": m.network, "classes": ", ".join(m.classes), "dataset": m.dataset}
            | {name: (value, m.metrics.intervals.get(name)) for name, value in m.metrics.headline.items()}
            | {"validation cases": m.metrics.cases or "–", "warnings": " · ".join(_warnings(m.metrics)) or "–"}
            for m in models
        ]
        columns = list(dict.fromkeys(k for r in rows for k in r))
        info = "<h3>All models</h3>" + table(rows, columns, _cell) if rows else "<i>No trained models yet.</i>"
        if info != self.info.value:
            self.info.value = info
        self._show(models)

    def _show(self, models: list[ModelCard] | None = None) -> None:
        none = self.choice.value is None
        card = None if none else next((m for m in models or self.store.models() if m.id == self.choice.value), None)
        self.retrain.disabled = card is None or not card.retrainable
        self.retrain.tooltip = "" if card is None or card.retrainable else "An ensemble is retrained by running its task file again."
        options = [("Choose a dataset…", None)] + [(name, name) for name in self.datasets()]
        if options != list(self.dataset.options):
            self.dataset.options = options
        self.export.disabled = none or self.busy
        self.run.disabled = self.evaluate.disabled = none or self.busy or self.dataset.value is None  # on a dataset chosen

    def _show_model_page(self) -> None:
        """The selected model's page: read when the selection changes or a job on it ends, not on every poll."""
        model_id = self.choice.value
        card = next((m for m in self.store.models() if m.id == model_id), None)
        self.report_title.layout.display = None if card is not None else "none"
        if card is None:
            self.evaluations.value = self.inferences.value = ""
            self.report.show(None)
            self.inference.options, self.inference.layout.display = [], "none"
            return
        markdown, page = card_files(self.workspace, self.store, card)
        links = " · ".join(
            [
                download_link(f"{model_id}-paper-card.md", markdown.encode(), "text/markdown", "paper card (Markdown)"),
                download_link(f"{model_id}-paper-card.html", page.encode(), "text/html", "paper card (HTML)"),
            ]
        )
        found = evaluations_html(stored_evaluations(self.workspace, model_id))
        self.evaluations.value = headline_card(card) + f"<div class='dq-muted'>For a paper: {links}</div>" + found
        trained = load_evaluation(self.workspace.task_dir(card.source_task)) if card.source_task is not None else None
        self.report.show(trained, empty="<i>The training task's evaluation is no longer in the workspace.</i>")
        runs = stored_inferences(self.workspace, model_id)
        self.inferences.value = inference_list_html(self.workspace, card, runs)
        self.inference.options = [("–", None)] + [(f"{r.dataset} · {len(r.rows)} images", r.dataset) for r in runs]
        self.inference.layout.display = None if runs else "none"

    def _show_inference(self) -> None:
        """The chosen inference run, page by page, in the predictions view."""
        card = next((m for m in self.store.models() if m.id == self.choice.value), None)
        run = next((r for r in stored_inferences(self.workspace, card.id) if r.dataset == self.inference.value), None) if card else None
        if run is None:
            self.predictions.clear()
            return
        self.predictions.show(run.rows, card.image_size, f"{card.id}-on-{run.dataset}")

    def _background(self, job: Callable[[], str]) -> None:
        """One export, evaluation or prediction at a time: each is a child process that may take minutes,
        so its buttons wait until it ends (clicks meanwhile start nothing)."""
        with self._lock:
            if self.busy:
                return
            self.busy = True
        self._show()
        self.result.value = "<i>Working…</i>"

        def run() -> None:
            try:
                shown = job()
            except Exception as exc:  # shown, never swallowed
                shown = f"<div class='dq-reason'>{esc(exc)}</div>"
            self.bar.layout.display = "none"
            self.busy = False
            self._show()
            self.result.value = shown  # last: once the result shows, the buttons are free again

        threading.Thread(target=run, daemon=True).start()

    def _export(self) -> str:
        """The exported file and its model card, downloaded by the browser (the server's path is no use to a
        remote user)."""
        written = deepq(self.workspace, "export", self.choice.value, "--format", self.format.value, "--out", "exports")
        target = self.workspace.resolve(written.strip())
        card = target.with_name(f"{self.choice.value}.json")
        links = [link for path in (target, card) if path.is_file() and (link := export_link(path))]
        where = f"<span class='dq-muted'>Exported to exports/{esc(target.name)} in the workspace.</span>"
        return f"<div class='dq-ok'>{' · '.join(links) or 'Too large to download through the page.'} {where}</div>"

    def _evaluate(self) -> str:
        model_id, dataset = self.choice.value, self.dataset.value
        deepq(self.workspace, "evaluate", model_id, "--dataset", dataset, progress=self._progress)
        found = DatasetEvaluation.model_validate_json(evaluation_path(self.workspace, model_id, dataset).read_text())
        self._show_model_page()
        link = download_link(f"{model_id}-on-{dataset}.html", evaluation_report(found).encode(), "text/html", "report (HTML)")
        return f"<h3>{esc(model_id)} on {esc(dataset)}</h3>{link}{dataset_evaluation_html(found)}"

    def _progress(self, line: str) -> None:
        """A line such as "decoding 120/2000" moves the bar; any other line is shown as it is."""
        found = PROGRESS_LINE.fullmatch(line)
        if found is None:
            self.result.value = f"<i>{esc(line)}…</i>"
            return
        stage, done, total = found.group(1), int(found.group(2)), int(found.group(3))
        self.bar.description, self.bar.value = stage.capitalize(), done / max(total, 1)
        self.bar.layout.display = None if done < total else "none"
        self.result.value = f"<i>{esc(stage.capitalize())} {done:,} of {total:,} cases…</i>"

    def _predict(self) -> str:
        """Every case of the dataset, with heatmaps (classification) or masks written to predictions/<model>/."""
        model_id, dataset = self.choice.value, self.dataset.value
        folder = f"predictions/{model_id}-{dataset}"
        rows = json.loads(deepq(self.workspace, "predict", model_id, "--dataset", dataset, "--heatmaps", folder))
        self._show_model_page()  # the run joins the inference list, and is shown
        if self.inference.value == dataset:
            self._show_inference()
        else:
            self.inference.value = dataset
        return f"<h3>{esc(model_id)} on {esc(dataset)}: {len(rows)} images</h3>"


def headline_card(card: ModelCard) -> str:
    """The model's headline figure, large, with its interval and what it was measured on (DeepQ's model page)."""
    headline = next(iter(kinds.shown(card.task).headline), "")
    value = card.metrics.headline.get(headline)
    if value is None:
        return ""
    low, high = card.metrics.intervals.get(headline, (None, None))
    interval = f"95% interval {low:.2f}–{high:.2f}, " if low is not None else ""
    cases = f"{card.metrics.cases} validation cases" if card.metrics.cases else "the validation cases"
    return (
        f"<div class='dq-card dq-headline'><div class='dq-muted'>{esc(card.name)} · {esc(kinds.shown(card.task).title)}</div>"
        f"<div class='dq-big'>{esc(headline.upper())} {value:.2f}</div>"
        f"<div class='dq-muted'>{interval}on {cases} of {esc(card.dataset)}</div>"
        + (f"<div class='dq-warn'>⚠ {esc(card.metrics.chance)}</div>" if card.metrics.chance else "")
        + "</div>"
    )


def _warnings(metrics: Metrics) -> list[str]:
    return ["not shown better than chance"] * bool(metrics.chance) + ["few cases"] * bool(metrics.warning)


def evaluations_html(found: list[DatasetEvaluation]) -> str:
    """The model's evaluations on datasets: one row each, figures with their intervals, and under the table what
    each says of the cases the model had seen (left out, or scored and flattering)."""
    if not found:
        return ""
    rows = [
        {"evaluated on": e.dataset, "cases": e.metrics.cases}
        | {name: format_figure(v, e.metrics.intervals.get(name)) for name, v in e.metrics.headline.items()}
        | {"warnings": " · ".join(_warnings(e.metrics) + ["seen cases (below)"] * bool(e.overlap)) or "–"}
        for e in found
    ]
    notes = "".join(f"<div class='dq-warn'>⚠ {esc(e.dataset)}: {esc(line)}</div>" for e in found for line in e.overlap)
    return "<h3>Evaluations on datasets</h3>" + table(rows, list(dict.fromkeys(k for r in rows for k in r))) + notes


def inference_list_html(workspace: WorkspacePaths, card: ModelCard, runs: list[InferenceRun]) -> str:
    """DeepQ's inference list: each run's dataset, images, date, the accuracy where the dataset was also
    evaluated, and the first image with what the model found over it."""
    if not runs:
        return ""
    headline = next(iter(kinds.shown(card.task).headline), "")
    scored = {e.dataset: e for e in stored_evaluations(workspace, card.id)}
    rows = []
    for run in runs:
        found = scored.get(run.dataset)
        value = found.metrics.headline.get(headline) if found else None
        figure = format_figure(value, found.metrics.intervals.get(headline)) if value is not None else "–"
        rows.append(
            {
                "dataset": esc(run.dataset),
                "images": f"{len(run.rows):,}",
                "run on": time.strftime("%Y-%m-%d %H:%M", time.localtime(run.created)),
                headline: figure,
                "image": first_thumbnail(workspace, card, run),
            }
        )
    return f"<h3>Inference list ({len(runs)})</h3>" + table(rows, list(rows[0]), fmt=lambda _, v: str(v))


def first_thumbnail(workspace: WorkspacePaths, card: ModelCard, run: InferenceRun, size: int = 48) -> str:
    if not run.rows:
        return "–"
    try:
        return f"<img src='{png_uri(overlay_thumbnail(workspace, run.rows[0], card.image_size, size))}' width='{size}' height='{size}'>"
    except (ReaderError, OSError):  # the image moved since: the row still lists the run
        return "–"


def _cell(column: str, value: object) -> str:
    """A figure with its interval on the line below (the table then fits a laptop's screen), else the value."""
    return figure_cell(*value) if isinstance(value, tuple) else esc(value if value is not None else "–")


def export_link(path: Path) -> str | None:
    """A link that downloads an exported file: streamed by the dashboard's server where it serves the exports
    (`deepq serve`), else embedded in the page up to `MAX_DOWNLOAD_BYTES` (in a notebook); None beyond."""
    if os.environ.get(serving.DOWNLOADS_ENV) == "1":
        return f"<a download='{esc(path.name)}' href='{serving.DOWNLOADS_PATH}/{quote(path.name)}'>⬇ {esc(path.name)}</a>"
    if path.stat().st_size > MAX_DOWNLOAD_BYTES:
        return None
    return download_link(path.name, path.read_bytes(), MIME.get(path.suffix, "application/octet-stream"), path.name)
