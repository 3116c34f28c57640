"""Full Manual: every hyperparameter and augmentation with its range and help, and a warning by each choice
that contradicts the images."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import ipywidgets as w
from pydantic import BaseModel

from .. import kinds
from ..spec import Augmentation, Hyperparameters, Search, TaskSpec, field_bounds
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
    "last_weights": "Keep last epoch",
    "refit": "Refit on all cases",
    "folds": "Ensemble folds (k)",
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
    "study_model": "Study model",
    "slices": "Slices per study",
    "context": "Context (slices each side)",
    "method": "Search",
    "trials": "Trials",
    "rule": "Rule",
    "target": "Target",
}
STYLE = {"description_width": "150px"}


def field_widget(model: type[BaseModel], name: str) -> w.Widget:
    """A widget for one pydantic field: a number typed as text (checked, never clamped), a checkbox or a dropdown."""
    info = model.model_fields[name]
    help_text = info.description or ""
    label = LABELS.get(name, name)
    layout = w.Layout(width="330px")
    if info.annotation is bool:
        return w.Checkbox(description=label, tooltip=help_text, style=STYLE, layout=layout, indent=True)
    if isinstance(info.annotation, type) and issubclass(info.annotation, StrEnum):
        return w.Dropdown(options=[e.value for e in info.annotation], description=label, tooltip=help_text, style=STYLE, layout=layout)
    return w.Text(description=label, tooltip=help_text, style=STYLE, layout=layout, continuous_update=False)


def range_text(model: type[BaseModel], name: str) -> str:
    """What DeepQ prints under a number field: '1–256, whole number'."""
    bounds = field_bounds(model, name)
    if bounds is None:
        return ""
    lo, hi = bounds
    return f"{lo:g}–{hi:g}" + (", whole number" if model.model_fields[name].annotation is int else "")


def parse_number(text: str, whole: bool) -> int | float:
    """The number typed, or ValueError saying what is wrong with it (12.7 is not a batch size)."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if whole and not value.is_integer():
        raise ValueError(f"{text} is not a whole number")
    return int(value) if whole else value


class Section:
    """The widgets of one pydantic part, bound to a wizard setter; each number shows its range under it,
    or why the value typed was refused (the step then stays incomplete)."""

    def __init__(self, model: type[BaseModel], part: str, setter: Callable[..., None], refuse: Callable[[str, str], None]):
        self.model, self.part, self.setter, self.refuse = model, part, setter, refuse
        self.fields = {name: field_widget(model, name) for name in model.model_fields}
        self.notes = {name: w.HTML(self._range(name)) for name, widget in self.fields.items() if isinstance(widget, w.Text)}
        self.warnings = {name: w.HTML(layout=w.Layout(display="none")) for name in self.fields}  # advice, by its field
        self.changes = UserChanges()
        for name, widget in self.fields.items():
            self.changes.observe(widget, lambda change, name=name: self._on_change(name, change))

    def _range(self, name: str) -> str:
        return f"<div class='dq-range'>{esc(range_text(self.model, name))}</div>"

    def _on_change(self, name: str, change) -> None:
        value = change["new"]
        try:
            if name in self.notes:
                value = parse_number(value, self.model.model_fields[name].annotation is int)
            self.setter(**{name: value})
        except ValueError as exc:  # SpecError is one: out of range
            reason = str(exc).removeprefix(f"{name} ")
            self.refuse(f"{self.part}.{name}", f"{LABELS.get(name, name)}: {reason}")  # by the label the user sees
            if name in self.notes:
                reason += "" if "between" in reason else f" · {range_text(self.model, name)}"
                self.notes[name].value = f"<div class='dq-field-error'>✗ {esc(reason)}</div>"
            return
        if name in self.notes:
            self.notes[name].value = self._range(name)

    def show(self, values: BaseModel, refused: dict[str, str]) -> None:
        """The draft's values, except in fields whose typed value was refused (left as typed, with the reason)."""
        with self.changes.quiet():
            for name, widget in self.fields.items():
                if f"{self.part}.{name}" in refused:
                    continue
                value = getattr(values, name)
                value = value.value if hasattr(value, "value") else value
                widget.value = f"{value:g}" if isinstance(widget, w.Text) else value
                if name in self.notes:
                    self.notes[name].value = self._range(name)

    def warn(self, warnings: dict[str, str]) -> None:
        """Show each warning under its field, and none elsewhere."""
        for name, widget in self.warnings.items():
            text = warnings.get(name)
            widget.value = f"<div class='dq-warn'>⚠ {esc(text)}</div>" if text else ""
            widget.layout.display = None if text else "none"

    def rows(self, names: list[str]) -> list[w.Widget]:
        below = {n: [self.notes[n]] if n in self.notes else [] for n in names}
        return [w.VBox([self.fields[n], *below[n], self.warnings[n]]) for n in names if n in self.fields]


class ImageSizeField:
    """The network's input side in Full Manual (smaller is much faster on a CPU), checked like the others."""

    def __init__(self, wizard: Wizard):
        self.wizard = wizard
        self.field = w.Text(description="Image size (px)", style=STYLE, layout=w.Layout(width="330px"), continuous_update=False)
        self.note = w.HTML(self._range())
        self.changes = UserChanges()
        self.changes.observe(self.field, self._on_change)
        self.widget = w.VBox([self.field, self.note])

    def _range(self) -> str:
        lo, hi = field_bounds(TaskSpec, "image_size")
        return f"<div class='dq-range'>{lo}–{hi} px, whole number</div>"

    def _on_change(self, change) -> None:
        try:
            self.wizard.update(image_size=parse_number(change["new"], whole=True))
        except ValueError as exc:
            reason = str(exc).removeprefix("image_size ")
            self.wizard.refuse("image_size", f"Image size: {reason}")
            self.note.value = f"<div class='dq-field-error'>✗ {esc(reason)}</div>"
            return
        self.note.value = self._range()

    def show(self) -> None:
        if "image_size" not in self.wizard.state.refused:
            with self.changes.quiet():
                self.field.value = str(self.wizard.draft.image_size)
            self.note.value = self._range()


class HyperForm:
    def __init__(self, wizard: Wizard):
        self.wizard = wizard
        self.image_size = ImageSizeField(wizard)
        self.hyper = Section(Hyperparameters, "hyper", wizard.set_hyper, wizard.refuse)
        self.augment = Section(Augmentation, "augment", wizard.set_augment, wizard.refuse)
        self.search = Section(Search, "search", wizard.set_search, wizard.refuse)
        h, a = self.hyper.rows, self.augment.rows
        self.studies = w.VBox([w.HTML("<b>Studies</b>"), *h(["study_model", "slices", "context"])])  # kinds that read volumes
        self.widget = w.VBox(
            [
                w.HTML("<h3>Setting hyperparameters</h3><div class='dq-muted'>Hover a field for its meaning.</div>"),
                w.HBox(
                    [
                        w.VBox(
                            [
                                w.HTML("<b>Data loader</b>"),
                                self.image_size.widget,
                                *h(["batch_size", "epochs", "valid_pct"]),
                                w.HTML("<b>Tuning</b>"),
                                *h(["lr", "schedule", "weight_decay", "momentum", "early_stop", "patience", "last_weights"]),
                                *h(["refit", "folds"]),
                                self.studies,
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
            ]
        )

    def refresh(self) -> None:
        s, refused = self.wizard.draft, self.wizard.state.refused
        self.image_size.show()
        self.image_size.widget.layout.display = None if self.wizard.rules.picks_network else "none"  # a preset or base model fixes it
        self.hyper.show(s.hyper, refused)
        ensembles = kinds.get(s.task).ensembles  # a k-fold ensemble averages classifiers' probabilities only
        for part in (self.hyper.fields["folds"], self.hyper.notes["folds"]):
            part.layout.display = None if ensembles else "none"
        self.studies.layout.display = None if kinds.get(s.task).volumes else "none"
        self.augment.show(s.augment, refused)
        self.search.show(s.search, refused)
        self.augment.warn(self.wizard.warnings())
