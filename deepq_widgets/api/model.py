"""A registered model, from a notebook cell: evaluate it on a labelled dataset, run it on images or a
dataset (a DataFrame whose `.show()` draws the heatmaps, boxes or masks), export it. The same functions
as `deepq evaluate`, `deepq predict` and `deepq export`."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from .. import kinds
from ..contracts import DatasetEvaluation, ModelCard, Prediction
from ..evaluations import read_card, stored_evaluations
from ..report import dataset_evaluation_html, evaluation_report, headline_text
from ..store import Store
from ..workspace import WorkspacePaths
from .display import Html, progress_bars


class PaperCard(Html):
    """A model card for a paper: shown in the notebook, `.markdown` for the manuscript, `.save(path)` as HTML."""

    def __init__(self, markdown: str, page: str, title: str):
        super().__init__(page, title)
        self.markdown = markdown


class Model:
    """A handle on one registered model of a workspace."""

    def __init__(self, workspace: WorkspacePaths, model_id: str):
        self.workspace, self.id = workspace, model_id
        self.card: ModelCard = read_card(workspace, model_id)

    def evaluate(self, dataset: str, progress: bool = True, include_seen: bool = False, calibrated: bool = True) -> ModelEvaluation:
        """Score the model on the cases of a labelled `dataset` it never trained or was selected on (kept with the
        model, as the dashboard's "Evaluate on dataset"): figures with 95% intervals, how many cases were left out,
        calibration, the report. `include_seen` scores the others too, said in the result (a check of fit, not a
        test); `calibrated=False` scores the network's own probabilities, without the model's temperature."""
        from ..training.dataset_evaluation import evaluate_dataset

        with progress_bars(progress) as advance:
            return ModelEvaluation(evaluate_dataset(self.workspace, self.id, dataset, advance, include_seen, calibrated))

    def evaluations(self) -> list[ModelEvaluation]:
        """The evaluations kept with the model, newest first."""
        return [ModelEvaluation(e) for e in stored_evaluations(self.workspace, self.id)]

    def predict(
        self, images: list[str | Path] | None = None, dataset: str | None = None, heatmaps: bool = True, calibrated: bool = True
    ) -> Predictions:
        """What the model says of each image (paths inside the workspace) or of every case of `dataset`: one
        row each, with the decision at the model's operating point. With `heatmaps`, Grad-CAM heatmaps
        (classification) and masks (segmentation) are written under predictions/ for `.show()`. The probabilities
        are the model's calibrated ones (its temperature), or with `calibrated=False` the network's own."""
        from ..training.export import predict_to_files

        overlays = f"predictions/{self.id}-{dataset or 'images'}" if heatmaps else None
        rows = predict_to_files(self.workspace, self.id, images or [], dataset, overlays, calibrated)
        return Predictions.of(rows, self.workspace, self.card.image_size)

    def export(self, format: str = "onnx", out: str = "exports", calibrated: bool = True) -> Path:
        """The model as ONNX, TorchScript or safetensors (with its model card beside it) in `out`, inside the workspace;
        ONNX and TorchScript graphs divide their logits by the model's temperature unless `calibrated=False`."""
        from ..training.export import export_model

        return export_model(self.workspace, self.id, format, out, calibrated)

    def paper_card(self, answers: dict[str, str] | None = None) -> PaperCard:
        """A model card for a paper: the TRIPOD+AI / CLAIM items the run knows, and the rest as questions for the
        author unless `answers` (keys: intended_use, data_source, reference_standard, population, limitations)
        give them (else those kept with the model by `deepq card --answers`)."""
        from ..paper_card import card_files

        markdown, page = card_files(self.workspace, Store(self.workspace.db_path), self.card, answers)
        return PaperCard(markdown, page, f"{self.card.name} model card")

    def __repr__(self) -> str:
        return f"<Model {self.id}: {self.card.task} {self.card.network} on {self.card.dataset}>"

    def _repr_html_(self) -> str:
        card = self.card
        figures = headline_text(card.metrics.flat(), kinds.shown(card.task).headline)
        cases = f" on {card.metrics.cases} validation cases" if card.metrics.cases else ""
        return (
            f"<div><b>{html.escape(card.id)}</b> · {html.escape(kinds.shown(card.task).title)} · {html.escape(card.network)} "
            f"· {card.image_size} px · classes {html.escape(', '.join(card.classes))}<div>{html.escape(figures)}{cases}</div></div>"
        )


class ModelEvaluation:
    """A model's evaluation on a dataset: shown as its inference insight report; `.table` per class."""

    def __init__(self, found: DatasetEvaluation):
        self.found = found

    @property
    def metrics(self) -> dict[str, Any]:
        """Headline figures, each with its interval as `<name>_ci`."""
        return self.found.metrics.flat()

    @property
    def table(self) -> pd.DataFrame:
        """One row per class (and the average): sensitivity, specificity, precision, recall, accuracy, F1, DOR, AUC."""
        return pd.DataFrame([{"class": r.name, **r.figures()} for r in self.found.per_class]).set_index("class")

    @property
    def warnings(self) -> list[str]:
        return [w for w in [self.found.metrics.chance, self.found.metrics.warning, *self.found.overlap] if w]

    def report(self) -> Html:
        return Html(evaluation_report(self.found), title=f"{self.found.model_id} on {self.found.dataset}")

    def __repr__(self) -> str:
        figures = headline_text(self.metrics, self.found.metrics.headline)
        return f"<Evaluation of {self.found.model_id} on {self.found.dataset} ({self.found.metrics.cases} cases): {figures}>"

    def _repr_html_(self) -> str:
        return f"<h3>{html.escape(self.found.model_id)} on {html.escape(self.found.dataset)}</h3>{dataset_evaluation_html(self.found)}"


class Predictions(pd.DataFrame):
    """One row per image: `image`, `summary`, `decision`, and a column per number the model gave (class
    scores, box counts, areas, a measured value). `.show(page)` draws a page of thumbnails with what the
    model found over them; filter or sort the frame first to see, say, the least confident calls
    (`p.sort_values("malignant").show()`)."""

    _metadata: ClassVar[list[str]] = ["rows", "workspace", "image_size"]  # kept by pandas through slicing

    @property
    def _constructor(self):
        return Predictions

    @classmethod
    def of(cls, rows: list[Prediction], workspace: WorkspacePaths, image_size: int) -> Predictions:
        table = cls(
            [
                {"image": r.image, "summary": r.summary, "decision": r.decision} | r.values | ({"boxes": len(r.boxes)} if r.boxes else {})
                for r in rows
            ]
        )
        table.rows, table.workspace, table.image_size = rows, workspace, image_size
        return table

    def show(self, page: int = 0) -> Html:
        """Thumbnails of one page (12 images), each with the heatmap, boxes or mask drawn over it and the top
        class and score."""
        from ..widgets.predictions import PAGE, cards_html
        from ..widgets.style import CSS

        rows = [self.rows[i] for i in self.index]  # the rows of this frame: a filtered or sorted one shows its own
        pages = max(1, -(-len(rows) // PAGE))
        page = min(max(page, 0), pages - 1)
        shown = rows[page * PAGE : (page + 1) * PAGE]
        where = f"{page * PAGE + 1}–{page * PAGE + len(shown)} of {len(rows)} (page {page + 1} of {pages})"
        document = f"{CSS}<div class='dq-app'><div class='dq-muted'>{where}</div>{cards_html(self.workspace, shown, self.image_size)}</div>"
        return Html(document, title=f"predictions, page {page + 1} of {pages}")
