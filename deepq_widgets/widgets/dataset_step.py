"""Dataset: the fitting datasets, the unfit ones with reasons, a paged preview, counts and problems."""

from __future__ import annotations

import ipywidgets as w

from .. import kinds
from ..data.catalog import DatasetInfo
from ..data.preview import page_count, render_preview
from ..wizard import Step, Wizard
from .base import StepView
from .study_viewer import StudyViewer
from .style import esc

PROBLEMS_SHOWN = 8


class DatasetStep(StepView):
    step = Step.dataset

    def __init__(self, wizard: Wizard):
        super().__init__(wizard)
        self.choice = w.Dropdown(options=[], description="Dataset", layout=w.Layout(width="480px"))
        self.hint = w.HTML("<div class='dq-muted'>Only datasets whose annotations fit this task are listed.</div>")
        self.unfit = w.HTML()
        self.summary = w.HTML()
        self.preview = w.Image(format="png", layout=w.Layout(max_width="100%", display="none"))  # shown with a dataset
        self.page = 0
        self.page_size = w.Dropdown(options=[12, 24, 48], value=24, description="Per page", layout=w.Layout(width="160px"))
        self.prev_btn, self.next_btn = w.Button(description="‹ Previous page"), w.Button(description="Next page ›")
        self.page_label = w.Label()
        self.identifiers = w.Checkbox(value=False, description="Show patient identifiers", indent=False)
        self.changes.observe(self.choice, self._on_choice)
        self.page_size.observe(self._on_page_size, "value")
        self.identifiers.observe(lambda change: self._draw_preview(), "value")
        self.prev_btn.on_click(lambda _: self._turn(-1))
        self.next_btn.on_click(lambda _: self._turn(+1))
        self.pager = w.HBox([self.prev_btn, self.page_label, self.next_btn, self.page_size, self.identifiers])
        self.pager.layout.display = "none"
        self.studies = StudyViewer()
        self.sources = w.VBox()  # where datasets come from besides the workspace folder (the PACS panel)
        self.widget = w.VBox(
            [
                w.HTML("<h2>Select dataset</h2>"),
                self.hint,
                self.sources,
                self.choice,
                self.unfit,
                self.summary,
                self.studies.widget,
                self.pager,
                self.preview,
            ]
        )

    def add_source(self, panel: w.Widget) -> None:
        self.sources.children = (*self.sources.children, panel)

    def choose_if_fitting(self, name: str) -> None:
        """A dataset just made (imported): listed now, and chosen where it fits the task."""
        self.refresh()
        if name in self.wizard.dataset_choices()[0]:
            self.wizard.update(dataset=name)

    # -- actions ---------------------------------------------------------------------------------
    def _on_choice(self, change=None) -> None:
        self.page = 0
        self.wizard.update(dataset=self.choice.value)

    def _on_page_size(self, change=None) -> None:
        self.page = 0
        self._draw_preview()

    def _turn(self, delta: int) -> None:
        info = self._info()
        if info is not None:
            self.page = min(max(self.page + delta, 0), page_count(info, self.page_size.value) - 1)
            self._draw_preview()

    # -- view ------------------------------------------------------------------------------------
    def _info(self) -> DatasetInfo | None:
        return self.wizard.context.dataset(self.wizard.draft.dataset)

    def refresh(self) -> None:
        ready = getattr(self.wizard.context.datasets, "ready", None)
        if ready is not None and not ready.is_set():
            self.summary.value = "<i>Scanning the workspace datasets…</i>"
            return
        fitting, unfit = self.wizard.dataset_choices()
        with self.changes.quiet():
            self.choice.options = [("— choose —", None)] + [(name, name) for name in fitting]
            self.choice.value = self.wizard.draft.dataset if self.wizard.draft.dataset in fitting else None
        preset = self.wizard.rules.preset(self.wizard)
        need = f"<div class='dq-muted'>{esc(preset.dataset.help)}</div>" if preset else ""
        rows = "".join(f"<li><b>{esc(n)}</b>: {esc(r)}</li>" for n, r in unfit.items())
        self.unfit.value = need + (
            f"<details><summary class='dq-muted'>{len(unfit)} unavailable dataset(s)</summary><ul class='dq-muted'>{rows}</ul></details>"
            if unfit
            else ""
        )
        info = self._info()
        self.summary.value = describe(info) if info else ""
        self.studies.show(info, list(self.wizard.draft.windows))
        self._draw_preview()

    def _draw_preview(self) -> None:
        info = self._info()
        shown = None if info is not None else "none"  # no dataset: no pager, and no empty (broken) image
        self.pager.layout.display = self.preview.layout.display = shown
        if info is None:
            self.preview.value, self.page_label.value = b"", ""
            return
        pages = page_count(info, self.page_size.value)
        self.page_label.value = f"page {self.page + 1} of {pages}"
        self.prev_btn.disabled, self.next_btn.disabled = self.page == 0, self.page >= pages - 1
        self.preview.value = render_preview(
            info, self.page, self.page_size.value, columns=6, thumb=150, show_identifiers=self.identifiers.value
        )


def describe(info: DatasetInfo) -> str:
    counts = " · ".join(f"{esc(c)} {n} <span class='dq-muted'>({info.balance[c]})</span>" for c, n in info.class_counts.items())
    patients = any(c.patient for c in info.cases)
    split = ""
    if info.has_studies:
        who = "patient" if patients else "study"
        split = f"<div class='dq-ok'>DICOM {who} information found: training and validation are split by {who}, "
        split += f"so no {who} is on both sides.</div>"
    problems = "".join(f"<li>{esc(p)}</li>" for p in info.problems[:PROBLEMS_SHOWN])
    more = f"<li>… and {len(info.problems) - PROBLEMS_SHOWN} more</li>" if len(info.problems) > PROBLEMS_SHOWN else ""
    problem_html = (
        f"<div class='dq-problem'>Problems:<ul>{problems}{more}</ul></div>"
        if info.problems
        else "<div class='dq-ok'>No problems found.</div>"
    )
    modality = f" · {esc(', '.join(info.modalities))}" if info.modalities else ""
    kind = f"{esc(info.format.upper())}{modality} · {esc(info.layout.replace('_', ' '))}"
    one, several = next((k.target_noun for k in kinds.all_kinds() if info.annotation in k.annotations), ("class", "classes"))
    noun = one if len(info.classes) == 1 else several
    cases = "studies" if info.volumes else "cases"
    head = f"<b>{len(info.usable)}</b> usable {cases} of {len(info.cases)} · {len(info.classes)} {noun} · {kind}"
    if info.volumes:
        depths = sorted(c.volume.depth for c in info.usable if c.volume is not None) or [0]
        spread = f"{depths[0]}" if depths[0] == depths[-1] else f"{depths[0]}–{depths[-1]} (median {depths[len(depths) // 2]})"
        head += f" · {spread} slices a study"
    return f"{head}<br>{noun.capitalize()}: {counts}{split}{problem_html}"
