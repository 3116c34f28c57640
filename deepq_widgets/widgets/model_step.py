"""Model (General) or Hyperparameter (Specialized, Retrain): Auto select or Full Manual."""

from __future__ import annotations

import ipywidgets as w

from .. import kinds
from ..spec import Modality, Tuning
from ..wizard import Step, Wizard
from .base import StepView
from .hyper_form import HyperForm
from .style import esc
from .zoo_browser import ZooBrowser

SIZES = {1: "Small model", 2: "Small–medium", 3: "Medium", 4: "Medium–large", 5: "Large model"}


class ModelStep(StepView):
    step = Step.model

    def __init__(self, wizard: Wizard):
        super().__init__(wizard)

        def whole() -> w.Layout:
            """The label in full, never cut with "…"; a layout of each widget's own (one shared layout hid all three
            checkboxes when the ensemble's was hidden for detection)."""
            return w.Layout(width="auto")

        self.manual = w.Checkbox(value=False, description="Show all models to select models manually", indent=False, layout=whole())
        self.optimized = w.Checkbox(value=True, description="Use optimized hyperparameters", indent=False, layout=whole())
        self.size = w.SelectionSlider(
            options=[(v, k) for k, v in SIZES.items()],
            value=2,
            description="Choose your model preference",
            style={"description_width": "initial"},
            layout=w.Layout(width="620px"),
        )
        self.modality = w.ToggleButtons(
            options=[m.value for m in Modality], description="Tell us about your images", style={"description_width": "initial"}
        )
        self.ensemble = w.Checkbox(
            value=False,
            description="Ensemble of 5 networks for a small dataset (under 300 cases; about 3× the time)",
            tooltip="Five networks, each leaving out a fifth of the cases: a better model, and figures on every case.",
            indent=False,
            layout=whole(),
        )
        self.recommendation = w.HTML()
        self.fixed = w.HTML()
        self.browser = ZooBrowser(wizard)
        self.form = HyperForm(wizard)
        self.auto_box = w.VBox([self.size, self.modality, self.ensemble, self.recommendation])
        self.body = w.VBox()
        for widget, handler in ((self.manual, self._on_tuning), (self.optimized, self._on_tuning)):
            self.changes.observe(widget, handler)
        for widget in (self.size, self.modality, self.ensemble):
            self.changes.observe(widget, self._on_prefs)
        self.widget = w.VBox([w.HTML("<h2 class='dq-model-title'>Select model</h2>"), self.body])

    def _on_tuning(self, change=None) -> None:
        manual = self.manual.value if self.wizard.rules.picks_network else not self.optimized.value
        self.wizard.update(tuning=Tuning.manual if manual else Tuning.auto)

    def _on_prefs(self, change=None) -> None:
        self.wizard.set_auto(size=self.size.value, modality=self.modality.value, ensemble=self.ensemble.value)

    def refresh(self) -> None:
        s = self.wizard.draft
        general = self.wizard.rules.picks_network
        with self.changes.quiet():
            self.manual.value = s.tuning is Tuning.manual
            self.optimized.value = s.tuning is Tuning.auto
            self.size.value, self.modality.value, self.ensemble.value = s.auto.size, s.auto.modality.value, s.auto.ensemble
        title = "<h2>Select model</h2>" if general else "<h2>Hyperparameters</h2>"
        self.widget.children[0].value = title
        if general and s.tuning is Tuning.auto:
            self.ensemble.layout.display = None if kinds.get(s.task).ensembles else "none"  # classifiers' outputs average
            self.recommendation.value = self._recommendation_card()
            self.body.children = [self.manual, self.auto_box]
        elif general:
            self.browser.refresh()
            self.form.refresh()
            self.body.children = [self.manual, self.browser.widget, self.form.widget]
        else:
            self.fixed.value = self._fixed_network()
            self.form.refresh()
            self.body.children = [self.fixed, self.optimized] + (
                [self.form.widget] if s.tuning is Tuning.manual else [w.HTML(f"<div class='dq-muted'>{self._auto_sentence()}</div>")]
            )

    def _recommendation_card(self) -> str:
        rec = self.wizard.recommendation()
        if rec is None:
            return ""
        planned = self.wizard.planned_settings()  # the size and batch the plan will use on these images
        size, batch = (planned["image_size"], planned["hyper"].batch_size) if planned else (rec.image_size, rec.batch_size)
        return (
            f"<div class='dq-card dq-card-on'><b>Recommended: {esc(rec.model)}</b> at {size} px, "
            f"batch {batch}<br>{esc(rec.reason)}<br>On the network: {esc(self._head())}.</div>"
        )

    def _auto_sentence(self) -> str:
        augmentation = "the preset's augmentation" if self.wizard.rules.preset(self.wizard) else "augmentation suited to the images"
        return (
            "The system picks everything from the dataset: image size, batch size and epochs, the learning rate (a short finder "
            f"on larger datasets), a one-cycle schedule, early stopping, and {augmentation}. The plan shows on the Start step."
        )

    def _fixed_network(self) -> str:
        sentence = self.wizard.rules.fixed_network(self.wizard)
        return f"<div class='dq-muted'>{esc(sentence)} On it: {esc(self._head())}.</div>" if sentence else ""

    def _head(self) -> str:
        task = self.wizard.task_type()
        return kinds.get(task).head if task else ""
