"""Manual select: the zoo grouped by family, expanding to variants, with pretraining and a comparison table."""

from __future__ import annotations

import ipywidgets as w

from ..spec import ModelChoice
from ..wizard import Wizard
from ..zoo.catalog import ZooEntry
from ..zoo.shelf import ZooShelf
from .base import UserChanges
from .style import esc, table

TABLE_ROWS = 60


class ZooBrowser:
    def __init__(self, wizard: Wizard):
        self.wizard = wizard
        self.search = w.Text(placeholder="filter: e.g. resnet, in22k, lite", description="Search", continuous_update=True)
        self.offline = w.Checkbox(value=False, description="Weights on this machine only", indent=False)
        self.family = w.Select(options=[], rows=12, description="Family", layout=w.Layout(width="300px"))
        self.variant = w.Select(options=[], rows=12, description="Variant", layout=w.Layout(width="360px"))
        self.pretrain = w.RadioButtons(options=[], description="Pretraining", layout=w.Layout(width="420px"))
        self.compare = w.HTML()
        self.changes = UserChanges()
        for widget in (self.search, self.offline):
            self.changes.observe(widget, self._on_filter)
        self.changes.observe(self.family, self._on_family)
        self.changes.observe(self.variant, self._on_variant)
        self.changes.observe(self.pretrain, self._on_pretrain)
        self.comparison = w.Accordion(children=[self.compare], titles=("Comparison between models",), selected_index=None)  # folded
        choose = [w.HBox([self.search, self.offline]), w.HBox([self.family, self.variant, self.pretrain])]
        self.widget = w.VBox([w.HTML("<h3>Select a model</h3>"), *choose, self.comparison])

    @property
    def shelf(self) -> ZooShelf:
        return self.wizard.context.zoo

    def entries(self) -> list[ZooEntry]:
        return self.shelf.entries(self.wizard.task_type(), self.search.value, offline_only=self.offline.value)

    # -- actions -------------------------------------------------------------------------------
    def _on_filter(self, change=None) -> None:
        self.refresh()

    def _on_family(self, change=None) -> None:
        self._fill_variants()

    def _on_variant(self, change=None) -> None:
        self._fill_pretraining()

    def _on_pretrain(self, change=None) -> None:
        if self.pretrain.value:
            arch, source = self.pretrain.value
            self.wizard.update(model=ModelChoice(arch=arch, pretrain=source))

    # -- view ------------------------------------------------------------------------------------
    def refresh(self) -> None:
        entries = self.entries()
        families = sorted({e.family for e in entries})
        current = self.shelf.entry(self.wizard.draft.model.arch)
        with self.changes.quiet():
            self.family.options = [(f"{f} ({sum(e.family == f for e in entries)})", f) for f in families]
            self.family.value = current.family if current and current.family in families else (families[0] if families else None)
        self._fill_variants()
        self.compare.value = comparison(entries[:TABLE_ROWS], self.shelf) + (
            f"<div class='dq-muted'>{len(entries)} matching entries; the first {TABLE_ROWS} are shown.</div>"
            if len(entries) > TABLE_ROWS
            else ""
        )

    def _fill_variants(self) -> None:
        entries = [e for e in self.entries() if e.family == self.family.value]
        variants = list(dict.fromkeys(e.variant for e in entries))
        current = getattr(self.shelf.entry(self.wizard.draft.model.arch), "variant", None)
        with self.changes.quiet():
            self.variant.options = variants
            self.variant.value = current if current in variants else (variants[0] if variants else None)
        self._fill_pretraining()

    def _fill_pretraining(self) -> None:
        tags = [e for e in self.entries() if e.variant == self.variant.value]
        options = []
        for e in tags:
            ok = "✓ here" if self.shelf.has_weights(e.name) else "download or add file"
            options.append((f"{e.pretrain} ({e.tag}) — {ok}", (e.name, "default")))
        if tags:
            for source_id, title in self.shelf.pretraining(tags[0].name).items():
                if source_id not in ("default", "none"):
                    options.append((f"{title} (your pretraining)", (tags[0].name, source_id)))
            options.append(("None — train from scratch", (tags[0].name, "none")))
        m = self.wizard.draft.model
        with self.changes.quiet():
            self.pretrain.options = options
            self.pretrain.value = (m.arch, m.pretrain) if (m.arch, m.pretrain) in [v for _, v in options] else None


def comparison(entries: list[ZooEntry], shelf: ZooShelf) -> str:
    rows = [
        {
            "model": e.name,
            "family": e.family,
            "pretraining": e.pretrain,
            "params (M)": e.params_m,
            "GFLOPs": e.gflops,
            "ImageNet top-1": e.top1,
            "input": e.input_size,
            "offline": "✓" if shelf.has_weights(e.name) else "",
        }
        for e in entries
    ]

    def fmt(key: str, value: object) -> str:
        if isinstance(value, float):
            return f"{value:.1f}" if key != "GFLOPs" else f"{value:.2f}"
        return esc(value if value is not None else "–")

    return table(rows, ["model", "family", "pretraining", "params (M)", "GFLOPs", "ImageNet top-1", "input", "offline"], fmt)
