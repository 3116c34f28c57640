"""The model registry, with 'Retrain this model' that jumps into the Retrain flow."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from ..store import Store
from .style import table


class ModelList:
    def __init__(self, store: Store, on_retrain: Callable[[str], None]):
        self.store, self.on_retrain = store, on_retrain
        self.choice = w.Select(options=[], rows=8, layout=w.Layout(width="100%"))
        self.retrain = w.Button(description="Retrain this model", button_style="primary", disabled=True)
        self.info = w.HTML()
        self.choice.observe(lambda change: self._show(), "value")
        self.retrain.on_click(lambda _: self.on_retrain(self.choice.value))
        self.widget = w.VBox([w.HTML("<h2>Models</h2>"), self.choice, self.retrain, self.info])

    def refresh(self) -> None:
        models = self.store.models()
        options = [(f"{m['name']} — {m['card']['task']} — {m['card']['arch']}", m["id"]) for m in models]
        if options != list(self.choice.options):
            self.choice.options = options
        rows = [
            {
                "model": m["id"],
                "task": m["card"]["task"],
                "network": m["card"]["arch"],
                "classes": ", ".join(m["card"]["classes"]),
                "dataset": m["card"].get("dataset"),
                **{k: v for k, v in m["card"]["metrics"].items() if "_" not in k},
            }
            for m in models
        ]
        columns = list(dict.fromkeys(k for r in rows for k in r))
        self.info.value = table(rows, columns) if rows else "<i>No trained models yet.</i>"
        self._show()

    def _show(self) -> None:
        self.retrain.disabled = self.choice.value is None
