"""Full Manual: every hyperparameter and augmentation with its range and help, plus the warnings."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import ipywidgets as w
from pydantic import BaseModel

from ..spec import Augmentation, Hyperparameters, Search, SpecError, field_bounds
from ..wizard import Wizard
from .base import UserChanges
from .style import esc

LABELS = {
    "batch_size": "Batch size",
    "epochs": "Training epochs",
    "valid_pct": "Validation %",
    "lr": "Learning rate",
    "weight_decay": "Weight decay",
    "momentum": "Momentum",
    "early_stop": "Early stop",
    "patience": "Patience (epochs)",
    "refit": "Refit on all cases",
    "schedule": "LR schedule",
    "hflip": "Horizontal flip",
    "hflip_p": "Flip probability",
    "resized_crop": "Random resized crop",
    "crop_min_scale": "Crop min. area",
    "translate_pct": "Translation %",
    "rotate_deg": "Rotation °",
    "brightness": "Brightness",
    "contrast": "Contrast",
    "saturation": "Saturation",
    "hue": "Hue",
    "method": "Search",
    "trials": "Trials",
    "rule": "Rule",
    "target": "Target",
}
STYLE = {"description_width": "150px"}


def field_widget(model: type[BaseModel], name: str) -> w.Widget:
    """A widget for one pydantic field: bounded number, checkbox or dropdown, with range and help."""
    info = model.model_fields[name]
    help_text = info.description or ""
    bounds = field_bounds(model, name)
    label = LABELS.get(name, name)
    layout = w.Layout(width="330px")
    if info.annotation is bool:
        return w.Checkbox(description=label, tooltip=help_text, style=STYLE, layout=layout, indent=True)
    if isinstance(info.annotation, type) and issubclass(info.annotation, StrEnum):
        return w.Dropdown(options=[e.value for e in info.annotation], description=label, tooltip=help_text, style=STYLE, layout=layout)
    cls = w.BoundedIntText if info.annotation is int else w.BoundedFloatText
    lo, hi = bounds
    kwargs = {} if info.annotation is int else {"step": (hi - lo) / 100 if name != "lr" else 1e-4}
    return cls(min=lo, max=hi, description=label, tooltip=f"{help_text} Range {lo:g} to {hi:g}.", style=STYLE, layout=layout, **kwargs)


class Section:
    """The widgets of one pydantic part, bound to a wizard setter."""

    def __init__(self, model: type[BaseModel], setter: Callable[..., None], error: w.HTML, skip: tuple[str, ...] = ()):
        self.model, self.setter, self.error = model, setter, error
        self.fields = {name: field_widget(model, name) for name in model.model_fields if name not in skip}
        self.changes = UserChanges()
        for name, widget in self.fields.items():
            self.changes.observe(widget, lambda change, name=name: self._on_change(name, change))

    def _on_change(self, name: str, change) -> None:
        try:
            self.setter(**{name: change["new"]})
            self.error.value = ""
        except SpecError as exc:
            self.error.value = f"<div class='dq-reason'>{esc(exc)}</div>"

    def show(self, values: BaseModel) -> None:
        with self.changes.quiet():
            for name, widget in self.fields.items():
                value = getattr(values, name)
                widget.value = value.value if hasattr(value, "value") else value

    def rows(self, names: list[str]) -> list[w.Widget]:
        return [self.fields[n] for n in names if n in self.fields]


class HyperForm:
    def __init__(self, wizard: Wizard):
        self.wizard = wizard
        self.error = w.HTML()
        self.warnings = w.HTML()
        self.hyper = Section(Hyperparameters, wizard.set_hyper, self.error)
        self.augment = Section(Augmentation, wizard.set_augment, self.error)
        self.search = Section(Search, lambda **v: wizard.update(search=wizard.draft.search.model_copy(update=v)), self.error)
        h, a = self.hyper.rows, self.augment.rows
        self.widget = w.VBox(
            [
                w.HTML("<h3>Setting hyperparameters</h3><div class='dq-muted'>Hover a field for its meaning and range.</div>"),
                w.HBox(
                    [
                        w.VBox(
                            [
                                w.HTML("<b>Data loader</b>"),
                                *h(["batch_size", "epochs", "valid_pct"]),
                                w.HTML("<b>Tuning</b>"),
                                *h(["lr", "schedule", "weight_decay", "momentum", "early_stop", "patience", "refit"]),
                            ]
                        ),
                        w.VBox(
                            [
                                w.HTML("<b>Augmentation</b>"),
                                *a(["hflip", "hflip_p", "resized_crop", "crop_min_scale", "translate_pct", "rotate_deg"]),
                                *a(["brightness", "contrast", "saturation", "hue"]),
                                w.HTML("<b>Hyperparameter search</b>"),
                                *self.search.rows(["method", "trials"]),
                            ]
                        ),
                    ]
                ),
                self.error,
                self.warnings,
            ]
        )

    def refresh(self) -> None:
        s = self.wizard.draft
        self.hyper.show(s.hyper)
        self.augment.show(s.augment)
        self.search.show(s.search)
        self.warnings.value = "".join(f"<div class='dq-warn'>⚠ {esc(text)}</div>" for text in self.wizard.warnings())
