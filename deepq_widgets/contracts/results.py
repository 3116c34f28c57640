"""What a run leaves and a model says: the evaluation (per-class rows, curves, charts, gallery), predictions,
what a model trained on, and the model card."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from ..spec import TaskSpec
from .base import Contract, Metrics, Number, _finite


# -- evaluation -----------------------------------------------------------------------------------
class PerClassRow(Contract):
    """One row of the per-class table; which figures are present depends on the task kind. The figures named
    here come in this order; a kind may add its own (numbers, by name), which follow."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str = Field(alias="class")
    threshold: Number = None  # the score at which the class is called (the operating point)
    sensitivity: Number = None
    specificity: Number = None
    precision: Number = None
    recall: Number = None
    accuracy: Number = None
    f1: Number = None
    dor: Number = None
    auc: Number = None
    brier: Number = None  # classifiers: the mean squared distance of the class's probability from the truth
    ap50: Number = None
    dice: Number = None
    iou: Number = None
    intervals: dict[str, tuple[float, float]] = Field(default_factory=dict)  # 95% CI of the figures that have one

    @field_validator("*", mode="before")
    @classmethod
    def _no_nan(cls, value: Any) -> Any:
        return _finite(value)

    @model_validator(mode="after")
    def _kind_figures_are_numbers(self) -> PerClassRow:
        for name, value in (self.model_extra or {}).items():
            if value is not None and not isinstance(value, int | float):
                raise ValueError(f"per-class figure {name!r} must be a number (got {value!r})")
            if isinstance(value, float) and not math.isfinite(value):
                self.model_extra[name] = None
        return self

    def figures(self) -> dict[str, Number]:
        """The figures this row has, in table order (the kind's own last)."""
        dumped = self.model_dump(exclude={"name", "intervals"})
        return {k: v for k, v in dumped.items() if k in self.model_fields_set or v is not None}


class Curve(Contract):
    fpr: list[float] | None = None
    tpr: list[float] | None = None
    precision: list[float] | None = None
    recall: list[float] | None = None
    fp_per_image: list[float] | None = None


class Gallery(Contract):
    """Indices into `Evaluation.cases` of true positives, false positives and false negatives, or of a
    kind's own outcomes under their titles ("Over-estimated"), with a line under a case where it says more
    ("true 12.1 mm, predicted 15.3 mm")."""

    tp: list[int] = Field(default_factory=list)
    fp: list[int] = Field(default_factory=list)
    fn: list[int] = Field(default_factory=list)
    outcomes: dict[str, list[int]] = Field(default_factory=dict)
    notes: dict[int, str] = Field(default_factory=dict)


class ChartSeries(Contract):
    name: str
    x: list[float]
    y: list[float]


class Chart(Contract):
    """A chart a kind draws from its evaluation (predicted against true values, residuals): data, drawn by
    plots.chart, so that a new kind's figures need no drawing code outside its folder."""

    title: str
    x_label: str
    y_label: str
    series: list[ChartSeries]
    style: Literal["line", "scatter"] = "line"
    reference: Literal["", "identity", "zero"] = ""  # a dashed line: y = x, or y = 0


class ReliabilityBin(Contract):
    """One bar of a reliability diagram: the pairs whose probability lies in [low, high)."""

    low: float
    high: float
    probability: float  # their mean probability
    observed: float  # how often the outcome was true
    count: int


class Calibration(Contract):
    """Whether the probabilities mean what they say (calibration.py): the expected calibration error with its 95%
    interval, the reliability diagram, the Brier score, and the temperature fitted on validation, if it helped."""

    scope: str  # what is judged: the top class's probability, or each finding's
    bins: list[ReliabilityBin]
    ece: float
    ece_interval: tuple[float, float] | None = None
    brier: float
    temperature: float | None = None  # kept: the registered model divides its logits by it
    scaled_ece: float | None = None  # after temperature scaling, cross-fitted
    scaled_ece_interval: tuple[float, float] | None = None
    scaled_bins: list[ReliabilityBin] = Field(default_factory=list)
    note: str = ""


class CaseScores(Contract):
    """A classifier's probabilities for each case it scored, with the label each case was given: the task's
    validation (or an ensemble's out-of-fold) cases, kept in `tasks/<id>/case_scores.json` for what needs them
    case by case (likely label errors, results by subgroup)."""

    cases: list[str]
    classes: list[str]
    truth: list[int]  # the index of each case's given class
    probabilities: list[list[float]]
    out_of_fold: bool = False  # every case of the dataset, each scored by a member that never trained on it


class Subgroup(Contract):
    """The figures of the cases that share one value of an attribute (a site, a scanner, an age band), with their
    intervals, and a warning when they are far below the other cases' (their intervals do not overlap)."""

    attribute: str
    value: str
    metrics: Metrics
    warning: str | None = None


class Evaluation(Contract):
    """The final evaluation of the kept weights: evaluation.json in the task folder."""

    task: str
    classes: list[str]
    metrics: Metrics
    cases: list[str]
    per_class: list[PerClassRow] = Field(default_factory=list)
    curves: dict[str, Curve] = Field(default_factory=dict)
    thresholds: list[float] | None = None
    operating_note: str = ""  # how the operating point was chosen on these cases (training/operating_point.py)
    confusion: list[list[int]] | None = None
    gallery: dict[str, Gallery] = Field(default_factory=dict)
    charts: list[Chart] = Field(default_factory=list)  # the kind's own charts, beyond the curves
    slice_level: Metrics | None = None  # studies with slice labels: the slices' own figures on the labelled slices
    key_slices: dict[int, list[float]] = Field(default_factory=dict)  # studies: case -> where its telling slices lie (0 first, 1 last)
    source: str = ""  # which data the figures come from, and whether the registered model trained on it
    calibration: Calibration | None = None  # classifiers: the reliability of their probabilities
    subgroups: list[Subgroup] = Field(default_factory=list)  # results by site, scanner, sex, age band... (training/subgroups.py)
    scores: CaseScores | None = Field(None, exclude=True)  # single-label classifiers, case by case: written apart, never in the JSON
    training: Evaluation | None = None  # the same weights on the training cases (the task's evaluation only)


class DatasetEvaluation(Evaluation):
    """A registered model scored on a labelled dataset (`deepq evaluate`): models/<id>/evaluations/<dataset>.json."""

    model_id: str
    dataset: str
    overlap: list[str] = Field(default_factory=list)  # warnings: files or patients shared with the training data
    created: float = 0.0


class FoundBox(Contract):
    """A box a detector found, in the image's pixels: [x0, y0, x1, y1]."""

    label: str
    score: float
    box: list[float]


class Prediction(Contract):
    """What a model said of one image, whatever its kind: one line (`summary`), the call at the operating
    point (`decision`), a number per column (class scores, areas, a measured value), boxes, and the heatmap
    and mask files written for it. Every reader (the predictions view, the API's table, the CSV) reads these
    fields and never guesses the kind from the keys."""

    image: str
    summary: str = ""
    decision: str = ""
    values: dict[str, float] = Field(default_factory=dict)
    boxes: list[FoundBox] = Field(default_factory=list)
    heatmap_file: str | None = None
    mask_file: str | None = None
    slice_scores: dict[str, list[float]] = Field(default_factory=dict)  # a study's: a curve over its slices, in patient order
    key_slices: list[int] = Field(default_factory=list)  # a study's: the slices its heatmap covers, most telling first

    @model_validator(mode="before")
    @classmethod
    def _rows_recorded_before_the_type(cls, value: Any) -> Any:
        """Inference lists stored before this type kept each kind's own keys (scores, findings, detections, area)."""
        if not isinstance(value, dict) or not {"scores", "findings", "detections", "area"} & value.keys():
            return value
        row = {k: v for k, v in value.items() if k in ("image", "summary", "decision", "heatmap_file", "mask_file")}
        row["values"] = value.get("scores") or value.get("area") or {}
        row["boxes"] = value.get("detections", [])
        if "findings" in value:
            row["decision"] = ", ".join(value["findings"]) or "no finding"
        if not row.get("summary") and value.get("scores"):
            top, score = max(value["scores"].items(), key=lambda kv: kv[1])
            row["summary"] = f"{top} {score:.2f} → {row.get('decision', '')}"
        elif not row.get("summary"):
            found = len(row["boxes"])
            areas = ", ".join(f"{c} {a:.1%}" for c, a in (value.get("area") or {}).items())
            row["summary"] = areas or f"{found} box{'es' * (found != 1)}"
        return row


class InferenceRun(Contract):
    """A registered model run on every image of a dataset (`deepq predict --dataset`), what it said of
    each image (heatmap and mask files in the workspace): the model page's inference list."""

    model_id: str
    dataset: str
    created: float
    rows: list[Prediction]


class TrainingManifest(Contract):
    """What a model was trained and selected on (train and validation cases), to tell a test set
    that overlaps it: content hashes of the image files, patient and study identifiers."""

    files_sha256: list[str] = Field(default_factory=list)
    patients: list[str] = Field(default_factory=list)
    studies: list[str] = Field(default_factory=list)


class LabelIssue(Contract):
    """A case whose given label is probably wrong: what it was given, what the predictions suggest instead."""

    case: str  # the image (or study) as the dataset names it, relative to its folder
    shown: str  # what views read to draw it (Case.shown)
    given: str
    suggested: str
    confidence: float  # the probability of the suggested class
    given_probability: float  # the probability of the given class (its label quality: lower is more suspect)


class LabelIssues(Contract):
    """Likely label errors of a task's dataset by confident learning (`training/label_issues.py`), most suspect first:
    `tasks/<id>/label_issues.json`."""

    task_id: int
    dataset: str
    source: str  # which predictions they come from
    examined: int  # how many cases were judged
    issues: list[LabelIssue]
    created: float = 0.0


# -- the model card -------------------------------------------------------------------------------
class ModelCard(Contract):
    """model.json of a registered model: everything needed to rebuild, judge and retrain it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=())

    id: str
    name: str
    task: str
    arch: str
    classes: list[str]
    image_size: int
    channels: int
    members: int = Field(1, ge=1, le=10)  # > 1: a k-fold ensemble of that many networks, whose outputs it averages
    windows: list[str] = Field(default_factory=list)
    mean: list[float]
    std: list[float]
    metrics: Metrics = Field(default_factory=Metrics)
    thresholds: list[float] | None = None  # on the probabilities as predict gives them (after the temperature)
    temperature: float | None = None  # the logits are divided by it (calibration.py); None: the network's own
    dataset: str = ""
    dataset_fingerprint: str = ""
    base_model: str | None = None
    source_task: int | None = None
    created: float = 0.0
    format: Literal["safetensors+json"] = "safetensors+json"
    spec: TaskSpec | None = None

    @property
    def network(self) -> str:
        """The network as lists show it: 'tf_efficientnet_lite0.in1k', or '5 × tf_efficientnet_lite0.in1k (ensemble)'."""
        return f"{self.members} × {self.arch} (ensemble)" if self.members > 1 else self.arch

    @property
    def retrainable(self) -> bool:
        """Retrain fine-tunes one network; an ensemble's members are retrained by running its task file again."""
        return self.members == 1
