"""The evaluation report: one self-contained HTML file (charts and thumbnails inlined), and the
pieces the task detail view shows: the per-class table, charts and the case gallery."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import calibration, kinds, plots
from .contracts import AnyEvent, DataEvent, DataProblemsEvent, DatasetEvaluation, EpochEvent, Evaluation, LabelIssues, Metrics, ran_as
from .data.preview import read_shown, shown_volume, to_rgb8
from .data.readers import ReaderError
from .data.slice_pixels import slice_pixels
from .insight import class_balance, diagnose_fit, loss_chart, metric_chart
from .intervals import format_figure
from .spec import TaskSpec
from .store import TaskRow

REPORT_CSS = (
    "body{font-family:system-ui,sans-serif;margin:24px;color:#1f2933} td,th{padding:3px 8px;border-bottom:1px solid #ddd}"
    " .dq-ci{color:#6b7785;font-size:11px}"
)
OUTCOMES = {"tp": "True positives", "fp": "False positives", "fn": "False negatives"}


def load_evaluation(task_folder: Path) -> Evaluation | None:
    path = task_folder / "evaluation.json"
    return Evaluation.model_validate_json(path.read_text()) if path.is_file() else None


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def headline_text(flat: dict[str, Any], names: Iterable[str]) -> str:
    """'auroc 0.83 (0.79–0.87) · accuracy 0.90 (0.84–0.94)' from a flat metrics mapping (Metrics.flat())."""
    return " · ".join(f"{name} {format_figure(flat[name], flat.get(f'{name}_ci'))}" for name in names if flat.get(name) is not None)


def figures_html(metrics: Metrics, where: str, slice_level: Metrics | None = None) -> str:
    """The headline figures with their 95% intervals, how many cases they come from, and the warning; for studies
    with slice labels, the slices' own figures below."""
    cases = f" on {metrics.cases} {where} cases" if metrics.cases else f" on the {where} cases"
    out = _figures_line("", metrics, cases)
    if slice_level is not None:
        out += _figures_line("Per slice: ", slice_level, f" on {slice_level.cases} labelled slices of those")
    return out


def _figures_line(lead: str, metrics: Metrics, cases: str) -> str:
    text = headline_text(metrics.flat(), metrics.headline)
    warning = "".join(f"<div class='dq-warn'>⚠ {html.escape(said)}</div>" for said in (metrics.chance, metrics.warning) if said)
    return f"<p>{lead}<b>{html.escape(text)}</b>{html.escape(cases)} (95% intervals in brackets).</p>{warning}"


COLUMN_NAMES = {"auc": "AUC", "dor": "DOR", "f1": "F1", "brier": "Brier"}


def tables_html(evaluation: Evaluation) -> str:
    """Everything an evaluation says in tables and sentences: per class, calibration, by subgroup."""
    point = f"<p class='dq-muted'>Operating point: {html.escape(evaluation.operating_note)}</p>" if evaluation.operating_note else ""
    return point + per_class_html(evaluation) + calibration_html(evaluation) + subgroups_html(evaluation)


def subgroups_html(evaluation: Evaluation) -> str:
    """The figures by subgroup (site, scanner, sex, age band...), each with its interval, and the subgroups far below
    the other cases said under the table."""
    if not evaluation.subgroups:
        return ""
    names = [n for n in kinds.get(evaluation.task).headline if any(g.metrics.headline.get(n) is not None for g in evaluation.subgroups)]
    head = "".join(f"<th>{html.escape(n)}</th>" for n in ["attribute", "value", "cases", *names])
    body = ""
    for g in evaluation.subgroups:
        cells = "".join(f"<td>{figure_cell(g.metrics.headline.get(n), g.metrics.intervals.get(n))}</td>" for n in names)
        mark = " ⚠" if g.warning else ""
        body += f"<tr><td>{html.escape(g.attribute)}</td><td>{html.escape(g.value)}{mark}</td><td>{g.metrics.cases}</td>{cells}</tr>"
    warnings = "".join(
        f"<div class='dq-warn'>⚠ {html.escape(g.attribute)} = {html.escape(g.value)}: {html.escape(g.warning)}</div>"
        for g in evaluation.subgroups
        if g.warning
    )
    return f"<h4>By subgroup</h4><table class='dq-table'><tr>{head}</tr>{body}</table>{warnings}"


def calibration_html(evaluation: Evaluation) -> str:
    """Whether the probabilities mean what they say, in a sentence: the ECE with its interval, the Brier score, and
    the temperature the model applies (or why none)."""
    c = evaluation.calibration
    if c is None:
        return ""
    ece = f"expected calibration error {_thousandths(c.ece, c.ece_interval)}"
    scaled = f"; after temperature scaling {_thousandths(c.scaled_ece, c.scaled_ece_interval)}" if c.scaled_ece is not None else ""
    applied = f" The registered model divides its logits by {c.temperature:.2f}." if c.temperature else ""
    note = f" <span class='dq-muted'>{html.escape(c.note)}</span>" if c.note else ""
    return (
        f"<p>Calibration ({html.escape(c.scope)}): <b>{ece}{scaled}</b>, Brier score {c.brier:.3f} "
        f"(0 is perfect).{html.escape(applied)}{note}</p>"
    )


def _thousandths(value: float, interval: tuple[float, float] | None) -> str:
    """An error that is small when all is well (an ECE of 0.004), to three decimals with its interval."""
    return f"{value:.3f}" + (f" ({interval[0]:.3f}–{interval[1]:.3f})" if interval else "")


def per_class_html(evaluation: Evaluation) -> str:
    rows = evaluation.per_class
    if not rows:
        return ""
    keys = list(rows[0].figures())
    head = "".join(f"<th>{html.escape(COLUMN_NAMES.get(k, k))}</th>" for k in ["class", *keys])
    body = ""
    for r in rows:
        figures = r.figures()
        cells = "".join(
            f"<td>{figure_cell(figures[k], r.intervals.get(k))}</td>" if isinstance(figures.get(k), float) else "<td>–</td>" for k in keys
        )
        style = " style='font-weight:600'" if r.name == "average" else ""
        body += f"<tr{style}><td>{html.escape(r.name)}</td>{cells}</tr>"
    return f"<table class='dq-table'><tr>{head}</tr>{body}</table>"


def figure_cell(value: float | None, interval: tuple[float, float] | None) -> str:
    """A figure with its 95% interval on a line of its own below it: a table of ten figures then fits a
    laptop's screen (side by side it was twice as wide, and its last columns were cut)."""
    figure, _, bracketed = format_figure(value, interval).partition(" ")
    return f"{figure}<div class='dq-ci'>{html.escape(bracketed)}</div>" if bracketed else figure


CHART_TITLES = {"roc": "ROC", "pr": "PR", "froc": "FROC"}


def charts(evaluation: Evaluation) -> dict[str, bytes]:
    """The evaluation charts the task kind shows (ROC, PR, confusion matrix, FROC), where there is data for them."""
    out = {}
    curves = {name: c.model_dump(exclude_none=True) for name, c in evaluation.curves.items()}
    for chart in kinds.get(evaluation.task).charts:
        if chart == "confusion" and evaluation.confusion:
            out["Confusion matrix"] = plots.confusion(evaluation.confusion, evaluation.classes)
        elif chart in CHART_TITLES and curves:
            out[CHART_TITLES[chart]] = plots.roc(curves, chart, legend_labels(evaluation, chart))
    if (c := evaluation.calibration) is not None:
        scaled = c.scaled_bins if c.temperature else []
        out["Reliability diagram"] = plots.reliability(_bars(c.bins), _bars(scaled), 1 / calibration.BINS, c.scope)
    for own in evaluation.charts:  # the kind's own charts, drawn from their data
        series = {s.name: (s.x, s.y) for s in own.series}
        out[own.title] = plots.chart(own.title, own.x_label, own.y_label, series, own.style, own.reference)
    return out


def _bars(bins: list) -> list[tuple[float, float, float, int]]:
    return [(b.low, b.probability, b.observed, b.count) for b in bins]


def legend_labels(evaluation: Evaluation, chart: str) -> dict[str, str]:
    """Each class with the area under its curve, as DeepQ's ROC legend shows it ('benign (AUC 0.93)')."""
    field, short = {"roc": ("auc", "AUC"), "pr": ("ap50", "AP"), "froc": ("ap50", "AP")}.get(chart, ("", ""))
    values = {r.name: getattr(r, field, None) for r in evaluation.per_class} if field else {}
    return {name: f"{name} ({short} {value:.2f})" for name, value in values.items() if value is not None}


def key_strip(path: str, where: list[float], size: int = 72) -> str:
    """A study in the gallery: its telling slices side by side (`where`: 0 its first slice, 1 its last), numbered."""
    from PIL import Image, ImageDraw

    try:
        volume = shown_volume(Path(path))
        depth = volume.depth
        picks = sorted({min(int(w * depth), depth - 1) for w in where})
        tiles = [Image.fromarray(to_rgb8(slice_pixels(volume.slices[k]).pixels)) for k in picks]
    except (ReaderError, OSError, ValueError):
        return thumbnail(path)
    sheet = Image.new("RGB", (len(tiles) * (size + 2), size + 12), (24, 24, 27))
    draw = ImageDraw.Draw(sheet)
    for n, (k, tile) in enumerate(zip(picks, tiles, strict=True)):
        tile.thumbnail((size, size))
        sheet.paste(tile, (n * (size + 2), 0))
        draw.text((n * (size + 2) + 2, size + 1), f"{k + 1}/{depth}", fill=(235, 235, 235))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    return png_uri(buf.getvalue())


def thumbnail(path: str, size: int = 96) -> str:
    """A gallery thumbnail: the image, or a study's middle slice."""
    from PIL import Image

    try:
        pixels = read_shown(path).pixels
    except (ReaderError, OSError, ValueError):
        return ""
    img = Image.fromarray(to_rgb8(pixels))
    img.thumbnail((size, size))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return png_uri(buf.getvalue())


def gallery_html(evaluation: Evaluation, per_outcome: int = 4) -> str:
    """True positive, false positive and false negative cases per class, and a kind's own outcomes (each case
    with its note), as thumbnails."""
    cases, parts = evaluation.cases, []
    for name, gallery in evaluation.gallery.items():
        called = gallery.tp or gallery.fp or gallery.fn or not gallery.outcomes  # a regression has outcomes only
        shown = ({label: getattr(gallery, key) for key, label in OUTCOMES.items()} if called else {}) | gallery.outcomes
        row = ""
        for label, indices in shown.items():
            imgs = "".join(
                _gallery_case(cases[i], gallery.notes.get(i, ""), evaluation.key_slices.get(i, []))
                for i in indices[:per_outcome]
                if i < len(cases)
            )
            cell = f"<div class='dq-muted'>{html.escape(label)}</div>{imgs or '–'}"
            row += f"<div style='display:inline-block;vertical-align:top;margin-right:12px'>{cell}</div>"
        parts.append(f"<div><b>{html.escape(name)}</b><br>{row}</div>")
    return "".join(parts)


def _gallery_case(path: str, note: str, key_slices: list[float]) -> str:
    title = html.escape(Path(path).name + (f": {note}" if note else ""))
    picture = key_strip(path, key_slices) if key_slices else thumbnail(path)
    image = f"<img src='{picture}' title='{title}' style='margin:2px'>"
    if not note:
        return image
    return f"<div style='display:inline-block;text-align:center;font-size:11px'>{image}<br>{html.escape(note)}</div>"


def settings_html(spec: TaskSpec) -> str:
    """The task file as a table of its settings (dotted names, as in `deepq spec`), the JSON itself folded below."""
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in flat_settings(spec.model_dump(mode="json")))
    raw = f"<details><summary>Task file (JSON)</summary><pre style='font-size:11px'>{html.escape(spec.to_json())}</pre></details>"
    return f"<table class='dq-table'>{rows}</table>{raw}"


def flat_settings(values: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """("hyper.lr", "0.001") pairs, unset values and empty lists left out."""
    rows: list[tuple[str, str]] = []
    for key, value in values.items():
        if isinstance(value, dict):
            rows += flat_settings(value, f"{prefix}{key}.")
        elif value not in (None, "", []):
            rows.append((f"{prefix}{key}", ", ".join(map(str, value)) if isinstance(value, list) else str(value)))
    return rows


def data_statistics_html(events: list[AnyEvent], kind: kinds.TaskKind) -> str:
    """Training and validation cases per class, the kind's statistics (box sizes, mask areas) and data problems."""
    data = next((e.statistics for e in events if isinstance(e, DataEvent)), None)
    if data is None:
        return "<i>Data statistics appear once the data is prepared.</i>"
    rows = "".join(
        f"<tr><td>{html.escape(c)}</td><td>{n}</td><td>{data.valid_counts.get(c, 0)}</td></tr>" for c, n in data.train_counts.items()
    )
    extra = "".join(f"<p>{html.escape(line)}</p>" for line in kind.describe_statistics(data.kind))
    problems = [p for e in events if isinstance(e, DataProblemsEvent) for p in e.problems] + data.problems
    problem_html = "<div class='dq-problem'>" + "<br>".join(html.escape(p) for p in problems[:10]) + "</div>" if problems else ""
    return (
        f"<p>{data.train} training and {data.valid} validation cases. {html.escape(data.split)}</p>"
        f"<table class='dq-table'><tr><th>{kind.target_noun[0]}</th><th>train</th><th>valid</th></tr>{rows}</table>{extra}{problem_html}"
    )


def build_report(task: TaskRow, events: list[AnyEvent], evaluation: Evaluation | None, label_issues: LabelIssues | None = None) -> str:
    """A standalone HTML report of one task: spec, data, curves, fit diagnosis, evaluation, likely label errors."""
    epochs = [e for e in events if isinstance(e, EpochEvent)]
    data = next((e.statistics for e in events if isinstance(e, DataEvent)), None)
    verdict, why = diagnose_fit(epochs)
    sections = [
        f"<h1>{html.escape(task.name)}</h1><p>State: <b>{html.escape(task.state)}</b> · compute {task.compute_s:.0f} s</p>",
        "<h2>Task file</h2>" + settings_html(ran_as(task.spec, events)),
        "<h2>Data</h2>" + data_statistics_html(events, kinds.shown(task.spec.task)),
    ]
    if epochs:
        sections.append(
            f"<h2>Training</h2><p>Diagnosis: <b>{verdict}</b> — {html.escape(why)}</p><p>{html.escape(class_balance(data))}</p>"
            f"<img src='{png_uri(loss_chart(epochs))}'><img src='{png_uri(metric_chart(epochs, 'Metrics'))}'>"
        )
    if evaluation:
        imgs = "".join(f"<img src='{png_uri(png)}' alt='{name}'>" for name, png in charts(evaluation).items())
        figures = figures_html(evaluation.metrics, "validation", evaluation.slice_level)
        table = tables_html(evaluation)
        sections.append(f"<h2>Evaluation (validation cases)</h2>{figures}{table}{imgs}<h3>Cases</h3>{gallery_html(evaluation)}")
        if evaluation.training is not None:
            seen = evaluation.training
            source = f"<p>{html.escape(seen.source)}</p>"
            sections.append(f"<h2>Evaluation (training cases)</h2>{figures_html(seen.metrics, 'training')}{source}{per_class_html(seen)}")
    if label_issues is not None:
        sections.append(label_issues_html(label_issues))
    head = f"<meta charset='utf-8'><title>{html.escape(task.name)}</title><style>{REPORT_CSS}</style>"
    return f"<!doctype html><html><head>{head}</head><body>{''.join(sections)}</body></html>"


def label_issues_html(found: LabelIssues, shown: int = 12) -> str:
    """The likely label errors as a report section: how many, from which predictions, the most suspect drawn."""
    cases = "".join(
        f"<div style='display:inline-block;width:150px;margin:4px;font-size:11px;vertical-align:top'>"
        f"<img src='{thumbnail(i.shown, 140)}' alt=''><br>{html.escape(i.case)}<br>given <b>{html.escape(i.given)}</b>, "
        f"probably <b>{html.escape(i.suggested)}</b> ({i.confidence:.2f})</div>"
        for i in found.issues[:shown]
    )
    return (
        f"<h2>Likely label errors</h2><p>{len(found.issues)} of {found.examined} cases, by confident learning on "
        f"{html.escape(found.source)}; the most suspect first.</p><div>{cases}</div>"
    )


def evaluation_report(evaluation: DatasetEvaluation) -> str:
    """The inference insight report of a model on a dataset: one self-contained HTML file."""
    title = f"{evaluation.model_id} on {evaluation.dataset}"
    head = f"<meta charset='utf-8'><title>{html.escape(title)}</title><style>{REPORT_CSS}</style>"
    return f"<!doctype html><html><head>{head}</head><body><h1>{html.escape(title)}</h1>{dataset_evaluation_html(evaluation)}</body></html>"


def dataset_evaluation_html(evaluation: DatasetEvaluation) -> str:
    """Which cases were scored (those the model had seen are left out, or said to flatter it), figures with
    intervals, the per-class table, charts and the gallery."""
    overlap = "".join(f"<div class='dq-warn'>⚠ {html.escape(line)}</div>" for line in evaluation.overlap)
    imgs = "".join(f"<img src='{png_uri(png)}' alt='{name}' style='max-width:100%'>" for name, png in charts(evaluation).items())
    figures = figures_html(evaluation.metrics, "test", evaluation.slice_level)
    tables = tables_html(evaluation)
    return overlap + figures + tables + imgs + f"<h3>Cases</h3>{gallery_html(evaluation)}"  # what was scored, first
