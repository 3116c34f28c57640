"""Look and feel without a CDN: one inline stylesheet, plain-text symbols instead of icon fonts."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable

import ipywidgets as w

CSS = """
<style>
.dq-app { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #1f2933; max-width: 1180px; }
.dq-app h2 { font-size: 20px; margin: 6px 0 2px 0; }
.dq-app h3 { font-size: 16px; margin: 10px 0 4px 0; }
.dq-muted { color: #6b7785; font-size: 12px; }
.dq-card { border: 1px solid #d5dbe3; border-radius: 8px; padding: 10px 12px; margin: 4px; background: #fff; }
.dq-card-on { border: 2px solid #1a8fd6; background: #eef7fd; }
.dq-card .widget-button { width: 100%; }
.dq-steps { display: flex; gap: 0; margin: 8px 0 12px 0; }
.dq-step { flex: 1; text-align: center; font-size: 13px; color: #9aa5b1; border-top: 3px solid #e4e7eb; padding-top: 6px; }
.dq-step-done { color: #1a8fd6; border-top-color: #1a8fd6; }
.dq-step-current { color: #1f2933; font-weight: 600; border-top-color: #1a8fd6; }
.dq-reason { color: #b3261e; font-size: 13px; }
.dq-headline { display: inline-block; min-width: 260px; }
.dq-big { font-size: 28px; font-weight: 600; color: #12467a; margin: 2px 0; }
.dq-shots { display: flex; flex-wrap: wrap; gap: 8px; }
.dq-shot { font-size: 11px; line-height: 1.3; overflow-wrap: anywhere; }
.dq-shot-caption { color: #333; margin-top: 2px; }
.dq-range { color: #6b7785; font-size: 11px; margin: -4px 0 6px 156px; }
.dq-field-error { color: #b3261e; font-size: 11px; line-height: 1.3; margin: -4px 0 6px 156px; width: 174px; }  /* wraps under its field */
.dq-ok { color: #1e7b34; }
.dq-warn { background: #fff6e0; border-left: 4px solid #e5a100; padding: 6px 10px; margin: 4px 0; font-size: 13px; }
.dq-problem { color: #b3261e; font-size: 12px; }
.dq-table { border-collapse: collapse; font-size: 12px; display: block; max-width: 100%; overflow-x: auto; }  /* scrolls, never clips */
.dq-app .widget-html-content { overflow-x: auto; white-space: normal; }  /* long sentences wrap; wide content scrolls */
.dq-table th, .dq-table td { border-bottom: 1px solid #e4e7eb; padding: 3px 8px; text-align: right; white-space: nowrap; }
.dq-table .dq-ci { color: #6b7785; font-size: 10.5px; }  /* a figure's interval, on the line below it */
.dq-table th:first-child, .dq-table td:first-child { text-align: left; }
.dq-badge { display: inline-block; border-radius: 10px; padding: 1px 8px; font-size: 11px; background: #e4e7eb; margin-right: 4px; }
.dq-state-running { background: #d6ecfb; } .dq-state-finished { background: #dcf3e1; } .dq-state-error { background: #fbe0de; }
.dq-state-stopped { background: #f1e7d0; } .dq-state-waiting { background: #ececec; }
</style>
"""

MARK = {"done": "✓", "current": "●", "pending": "○"}


def esc(text: object) -> str:
    return html.escape(str(text))


def stylesheet() -> w.HTML:
    return w.HTML(CSS)


def card(title: str, body: str, on_select: Callable[[], None], button: str = "Select") -> w.VBox:
    """A selectable card: a title, an HTML body and one button."""
    choose = w.Button(description=button, button_style="")
    choose.on_click(lambda _: on_select())
    box = w.VBox([w.HTML(f"<b>{esc(title)}</b><div class='dq-muted'>{body}</div>"), choose], layout=w.Layout(width="260px"))
    box.add_class("dq-card")
    box.button = choose  # tests click it
    return box


def mark_selected(cards: dict[str, w.VBox], selected: str | None) -> None:
    for key, box in cards.items():
        if key == selected:
            box.add_class("dq-card-on")
            box.button.description, box.button.button_style = "Selected ✓", "info"
        else:
            box.remove_class("dq-card-on")
            box.button.description, box.button.button_style = "Select", ""


def download_link(filename: str, data: bytes, mime: str, label: str) -> str:
    """A link that downloads `data` from the page itself (no server round trip, works under Voilà)."""
    payload = base64.b64encode(data).decode()
    return f"<a download='{esc(filename)}' href='data:{mime};base64,{payload}'>⬇ {esc(label)}</a>"


def table(rows: list[dict], columns: list[str], fmt: Callable[[str, object], str] | None = None) -> str:
    fmt = fmt or (lambda key, v: f"{v:.3f}" if isinstance(v, float) else esc(v if v is not None else "–"))
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{fmt(c, r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table class='dq-table'><tr>{head}</tr>{body}</table>"
