"""The evaluation report: one self-contained HTML file (charts and thumbnails inlined), and the
pieces the task detail view shows: the per-class table, charts and the case gallery."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from . import plots
from .data.readers import ReaderError, read_image
from .insight import diagnose_fit

TABLE_KEYS = ["sensitivity", "specificity", "precision", "recall", "accuracy", "f1", "dor", "auc"]
REPORT_CSS = "body{font-family:system-ui,sans-serif;margin:24px;color:#1f2933} td,th{padding:3px 8px;border-bottom:1px solid #ddd}"
OUTCOMES = {"tp": "True positives", "fp": "False positives", "fn": "False negatives"}


def load_evaluation(task_folder: Path) -> dict[str, Any] | None:
    path = task_folder / "evaluation.json"
    return json.loads(path.read_text()) if path.is_file() else None


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def per_class_html(evaluation: dict[str, Any]) -> str:
    rows = evaluation.get("per_class") or []
    if not rows:
        return ""
    keys = [k for k in [*TABLE_KEYS, "ap50", "dice", "iou"] if k in rows[0]]
    head = "".join(f"<th>{html.escape(k.upper() if k in ('auc', 'dor', 'f1') else k)}</th>" for k in ["class", *keys])
    body = ""
    for r in rows:
        cells = "".join(f"<td>{r[k]:.3f}</td>" if isinstance(r.get(k), float) else "<td>–</td>" for k in keys)
        style = " style='font-weight:600'" if r["class"] == "average" else ""
        body += f"<tr{style}><td>{html.escape(str(r['class']))}</td>{cells}</tr>"
    return f"<table class='dq-table'><tr>{head}</tr>{body}</table>"


def charts(evaluation: dict[str, Any]) -> dict[str, bytes]:
    """The evaluation charts for the task kind: ROC/PR/confusion, PR/FROC for detection."""
    out, curves = {}, evaluation.get("curves") or {}
    task = evaluation["task"]
    if task in ("single_label", "multi_label") and curves:
        out["ROC"], out["PR"] = plots.roc(curves, "roc"), plots.roc(curves, "pr")
        if evaluation.get("confusion"):
            out["Confusion matrix"] = plots.confusion(evaluation["confusion"], evaluation["classes"])
    elif task == "detection" and curves:
        out["PR"], out["FROC"] = plots.roc(curves, "pr"), plots.roc(curves, "froc")
    return out


def thumbnail(path: str, size: int = 96) -> str:
    from PIL import Image

    try:
        pixels = read_image(path).pixels
    except ReaderError:
        return ""
    rgb = (np.clip(pixels[..., :3] if pixels.shape[2] >= 3 else np.repeat(pixels[..., :1], 3, 2), 0, 1) * 255).astype(np.uint8)
    img = Image.fromarray(rgb)
    img.thumbnail((size, size))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return png_uri(buf.getvalue())


def gallery_html(evaluation: dict[str, Any], per_outcome: int = 4) -> str:
    """True positive, false positive and false negative cases per class, as thumbnails."""
    cases, parts = evaluation.get("cases") or [], []
    for name, outcomes in (evaluation.get("gallery") or {}).items():
        row = ""
        for key, label in OUTCOMES.items():
            imgs = "".join(
                f"<img src='{thumbnail(cases[i])}' title='{html.escape(Path(cases[i]).name)}' style='margin:2px'>"
                for i in outcomes.get(key, [])[:per_outcome]
                if i < len(cases)
            )
            cell = f"<div class='dq-muted'>{label}</div>{imgs or '–'}"
            row += f"<div style='display:inline-block;vertical-align:top;margin-right:12px'>{cell}</div>"
        parts.append(f"<div><b>{html.escape(name)}</b><br>{row}</div>")
    return "".join(parts)


def build_report(task: dict[str, Any], events: list[dict[str, Any]], evaluation: dict[str, Any] | None) -> str:
    """A standalone HTML report of one task: spec, data, curves, fit diagnosis, evaluation."""
    epochs = [e for e in events if e["kind"] == "epoch"]
    data = next((e for e in events if e["kind"] == "data"), {})
    keys = [k for k in (epochs[-1]["metrics"] if epochs else {}) if "_" not in k]
    verdict, why = diagnose_fit(epochs)
    sections = [
        f"<h1>{html.escape(task['name'])}</h1><p>State: <b>{html.escape(task['state'])}</b> · compute {task.get('compute_s', 0):.0f} s</p>",
        "<h2>Task file</h2><pre>" + html.escape(json.dumps(task["spec"], indent=2)) + "</pre>",
        "<h2>Data</h2><pre>"
        + html.escape(json.dumps({k: v for k, v in data.items() if k not in ("id", "time", "kind")}, indent=2))
        + "</pre>",
    ]
    if epochs:
        sections.append(
            f"<h2>Training</h2><p>Diagnosis: <b>{verdict}</b> — {html.escape(why)}</p>"
            f"<img src='{png_uri(plots.curves(epochs, ['train_loss', 'valid_loss'], 'Loss', 'loss'))}'>"
            f"<img src='{png_uri(plots.curves(epochs, keys, 'Metrics', 'value'))}'>"
        )
    if evaluation:
        imgs = "".join(f"<img src='{png_uri(png)}' alt='{name}'>" for name, png in charts(evaluation).items())
        sections.append(f"<h2>Evaluation (validation cases)</h2>{per_class_html(evaluation)}{imgs}<h3>Cases</h3>{gallery_html(evaluation)}")
    head = f"<meta charset='utf-8'><title>{html.escape(task['name'])}</title><style>{REPORT_CSS}</style>"
    return f"<!doctype html><html><head>{head}</head><body>{''.join(sections)}</body></html>"
