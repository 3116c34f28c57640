"""A study in the dataset step: a strip of slices spread over its volume, and a slider through every slice.

Shown only for a dataset of studies (series or volumes). Slices are read on demand, through the task's
windows, never decoded ahead: scrolling a 300-slice series reads one slice per step.
"""

from __future__ import annotations

import ipywidgets as w

from ..data.catalog import DatasetInfo
from ..data.preview import slice_png, strip_png
from ..data.readers import ReaderError
from .style import esc


class StudyViewer:
    def __init__(self):
        self.choice = w.Dropdown(options=[], description="Study", layout=w.Layout(width="360px"))
        self.slider = w.IntSlider(value=1, min=1, max=1, description="Slice", continuous_update=False, layout=w.Layout(width="480px"))
        self.strip = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.slice = w.Image(format="png", layout=w.Layout(max_width="320px"))
        self.caption = w.HTML()
        self.info: DatasetInfo | None = None
        self.windows: list[str] = []
        self.choice.observe(lambda change: self._show_study(), "value")
        self.slider.observe(lambda change: self._show_slice(), "value")
        self.parts = [w.HTML("<b>Study viewer</b>"), w.HBox([self.choice, self.slider]), self.strip, w.HBox([self.slice, self.caption])]
        self.widget = w.VBox([], layout=w.Layout(display="none"))  # empty until a dataset of studies: no hidden images

    def show(self, info: DatasetInfo | None, windows: list[str]) -> None:
        """The studies of `info` (hidden when it holds images), read through `windows`."""
        studies = [(c.title, i) for i, c in enumerate(info.cases) if c.volume is not None and c.usable] if info else []
        self.widget.layout.display = None if studies else "none"
        self.widget.children = self.parts if studies else []
        if (info, windows) == (self.info, self.windows):
            return
        self.info, self.windows = info, list(windows)
        self.choice.options = studies
        if studies:
            self.choice.value = studies[0][1]
            self._show_study()

    def _case(self):
        return None if self.info is None or self.choice.value is None else self.info.cases[self.choice.value]

    def _show_study(self) -> None:
        case = self._case()
        if case is None:
            return
        try:
            self.strip.value = strip_png(case, self.windows or None)
        except (ReaderError, OSError, ValueError) as exc:
            self.strip.value, self.caption.value = b"", f"<div class='dq-problem'>{esc(exc)}</div>"
            return
        middle = case.volume.depth // 2 + 1
        self.slider.max = case.volume.depth
        if self.slider.value == middle:
            self._show_slice()
        self.slider.value = middle

    def _show_slice(self) -> None:
        case = self._case()
        if case is None:
            return
        volume, index = case.volume, self.slider.value - 1
        try:
            self.slice.value = slice_png(case, index, self.windows or None)
        except (ReaderError, OSError, ValueError) as exc:
            self.caption.value = f"<div class='dq-problem'>{esc(exc)}</div>"
            return
        where = f" · {volume.positions[index]:.1f} mm" if volume.positions else ""
        labels = volume.slice_labels.get(index)
        said = f"<br>slice label: {esc(', '.join(labels) or 'none')}" if labels is not None else ""
        step = f" · {volume.spacing[0]:.2g} mm apart" if volume.spacing else ""
        self.caption.value = (
            f"<div style='padding:8px'><b>{esc(case.title)}</b>: {esc(', '.join(case.labels))}<br>"
            f"slice {index + 1} of {volume.depth}{where}{step}<br>{esc(volume.format)}{said}</div>"
        )
