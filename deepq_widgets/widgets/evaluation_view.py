"""An evaluation's insight, as the task detail and the model page show it: the figures with their
intervals, the per-class table, the charts and the case gallery, with DeepQ's "Validation set /
Training set" toggle when the kept weights were scored on their training cases too."""

from __future__ import annotations

import ipywidgets as w

from .. import report
from ..contracts import Evaluation
from .style import esc

VALIDATION, TRAINING = "Validation set", "Training set"


class EvaluationView:
    def __init__(self):
        self.evaluation: Evaluation | None = None
        self.which = w.ToggleButtons(options=[VALIDATION, TRAINING], value=VALIDATION, layout=w.Layout(display="none"))
        self.which.style.button_width = "130px"
        self.figures = w.HTML()
        self.charts = w.HBox(layout=w.Layout(flex_flow="row wrap"))  # wraps at 1024 px instead of clipping
        self.chart_names = w.HTML()  # what the charts are, in words (a chart is a picture)
        self.gallery = w.HTML()
        self.which.observe(lambda _: self._render(), "value")
        self.widget = w.VBox([self.which, self.figures, self.charts, self.chart_names, self.gallery])

    def show(self, evaluation: Evaluation | None, empty: str = "") -> None:
        """`evaluation` with its validation view first; `empty` (HTML) when there is none."""
        self.evaluation = evaluation
        self.which.layout.display = None if evaluation is not None and evaluation.training is not None else "none"
        if self.which.value != VALIDATION:
            self.which.value = VALIDATION  # renders through the observer
        else:
            self._render(empty)

    def _render(self, empty: str = "") -> None:
        if self.evaluation is None:
            self.figures.value, self.charts.children, self.gallery.value, self.chart_names.value = empty, [], "", ""
            return
        training = self.which.value == TRAINING and self.evaluation.training is not None
        shown = self.evaluation.training if training else self.evaluation
        source = f"<div class='dq-muted'>{esc(shown.source)}</div>" if shown.source else ""
        figures = report.figures_html(shown.metrics, "training" if training else "validation", shown.slice_level)
        self.figures.value = figures + source + report.tables_html(shown)
        drawn = report.charts(shown)
        self.charts.children = [
            w.Image(value=png, format="png", layout=w.Layout(max_width="100%", height="auto")) for png in drawn.values()
        ]
        self.chart_names.value = f"<div class='dq-muted'>Charts: {esc(' · '.join(drawn))}</div>" if drawn else ""
        self.gallery.value = report.gallery_html(shown)
