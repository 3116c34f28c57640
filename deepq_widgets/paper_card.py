"""A model card for a paper: one page, in Markdown and HTML, filled from what the run knows, item by item as the
TRIPOD+AI and CLAIM checklists ask (data, split and its unit, model and pretraining, the training recipe as run,
evaluation with intervals, calibration, subgroups, label quality, limitations). What the run cannot know (intended
use, the reference standard, where and when the images were acquired) is asked of the author, or filled from their
answers (`models/<id>/author.json`, `deepq card --answers`, `Model.paper_card(answers=...)`)."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import kinds
from .contracts import AnyEvent, DataEvent, DatasetEvaluation, Evaluation, LabelIssues, ModelCard, PlanEvent, ran_as
from .evaluations import read_label_issues, stored_evaluations
from .intervals import format_figure
from .report import REPORT_CSS, headline_text, load_evaluation
from .spec import TaskSpec
from .store import Store
from .workspace import WorkspacePaths
from .zoo.weights import MY_MODEL

ANSWERS = "author.json"  # the author's answers, beside model.json
QUESTIONS = {  # what the run cannot know, with the checklist items that ask for it
    "intended_use": "Intended use: the clinical setting, the intended users and the decision the model informs (TRIPOD+AI 3; CLAIM 2–3).",
    "data_source": "Data source: the institutions, the dates of acquisition, and how the cases were selected (TRIPOD+AI 5–6; CLAIM 7–9).",
    "reference_standard": "Reference standard: how each label was established, by whom, with what experience (TRIPOD+AI 8; CLAIM 14–18).",
    "population": "Participants: age, sex and clinical characteristics of the patients (TRIPOD+AI 20; CLAIM 33).",
    "limitations": "Further limitations and the sources of bias the authors know of (TRIPOD+AI 26; CLAIM 42).",
}


@dataclass
class CardSection:
    title: str
    lines: list[str] = field(default_factory=list)  # sentences, each a paragraph or a list item
    table: list[list[str]] = field(default_factory=list)  # a header row, then rows


def read_answers(model_folder: Path) -> dict[str, str]:
    path = model_folder / ANSWERS
    if not path.is_file():
        return {}
    found = json.loads(path.read_text())
    return {k: str(v) for k, v in found.items() if k in QUESTIONS and str(v).strip()} if isinstance(found, dict) else {}


def paper_card(
    card: ModelCard,
    events: Sequence[AnyEvent],
    evaluation: Evaluation | None,
    tested: Sequence[DatasetEvaluation] = (),
    label_issues: LabelIssues | None = None,
    answers: dict[str, str] | None = None,
) -> list[CardSection]:
    """The card's sections, in the order a paper's methods and results read them."""
    answers = answers or {}
    kind = kinds.shown(card.task)
    spec = ran_as(card.spec, list(events)) if card.spec is not None else None
    data = next((e.statistics for e in events if isinstance(e, DataEvent)), None)
    plan = next((e.plan for e in reversed(events) if isinstance(e, PlanEvent)), None)
    sections = [
        CardSection(
            "Model",
            [
                f"{card.name} ({card.id}): {kind.title.lower()} into {', '.join(card.classes)}.",
                f"Network: {card.network}, {kind.head}; pretrained weights: {_pretraining(card, spec)}.",
                f"Input: {card.image_size} px, {card.channels} channel(s)"
                + (f", DICOM windows {', '.join(card.windows)}." if card.windows else "."),
                *_operating_point(card, spec),
            ],
        ),
        _data_section(card, data, spec),
        _training_section(spec, plan),
        _evaluation_section(card, evaluation, tested),
        CardSection("Label quality", _label_lines(label_issues)),
        CardSection("Limitations known from the run", _limitations(card, evaluation, tested, data) + _answered("limitations", answers)),
    ]
    sections[1].lines += [
        f"{QUESTIONS[k].split(':')[0]}: {answers[k]}" for k in ("data_source", "reference_standard", "population") if k in answers
    ]
    if "intended_use" in answers:
        sections.insert(0, CardSection("Intended use", [answers["intended_use"]]))
    open_questions = [text for key, text in QUESTIONS.items() if key not in answers]
    if open_questions:
        sections.append(CardSection("Questions for the author (not known to the run)", open_questions))
    return sections


def _answered(key: str, answers: dict[str, str]) -> list[str]:
    return [answers[key]] if key in answers else []


def _operating_point(card: ModelCard, spec) -> list[str]:
    out = []
    if card.thresholds and len(card.classes) == 2 and spec is not None:
        point = spec.operating_point
        rule = "Youden's J" if point.rule.value == "youden" else f"{point.rule.value} ≥ {point.target:.2f}"
        out.append(f"Operating point: chosen on the validation cases by {rule}.")
    if card.temperature is not None:
        out.append(f"Probabilities calibrated by temperature scaling (T = {card.temperature:.2f}, fitted on the validation cases).")
    return out


def _pretraining(card: ModelCard, spec: TaskSpec | None) -> str:
    source = spec.model.pretrain if spec else "default"
    if source == "none":
        return "none (trained from scratch)"
    if source.startswith(MY_MODEL):
        return f"the backbone of this workspace's model {source.removeprefix(MY_MODEL)}"
    return f"ImageNet (timm {card.arch})" if source == "default" else f"the registered pretraining {source}"


def _data_section(card: ModelCard, data, spec) -> CardSection:
    section = CardSection("Data")
    section.lines.append(
        f"Dataset: {card.dataset}"
        + (" with a reviewer's label corrections (label_corrections.csv)." if spec and spec.label_corrections else ".")
    )
    if data is None:
        return section
    section.lines.append(f"{data.train} training and {data.valid} validation cases. Split: {data.split}")
    if data.grouped_by:
        section.lines.append(f"Unit of the split: the {data.grouped_by} (no {data.grouped_by} on both sides).")
    if data.problems:
        section.lines.append(f"{len(data.problems)} files or cases were left out as unreadable or inconsistent.")
    section.table = [["class", "training", "validation"]] + [
        [name, str(count), str(data.valid_counts.get(name, 0))] for name, count in data.train_counts.items()
    ]
    return section


def _training_section(spec, plan) -> CardSection:
    section = CardSection("Training (as run)")
    if spec is None:
        return section
    hyper = (plan.hyper if plan is not None else spec.hyper).model_dump(mode="json")
    keys = ("epochs", "batch_size", "lr", "schedule", "weight_decay", "momentum", "early_stop", "patience", "last_weights")
    shown = {k: hyper[k] for k in (*keys, "folds", "refit") if k in hyper}
    section.lines.append("; ".join(f"{k.replace('_', ' ')} {v}" for k, v in shown.items()) + f"; seed {spec.seed}.")
    augment = [k.replace("_", " ") for k, v in spec.augment.model_dump().items() if v not in (False, 0, 0.0, None, "", [])]
    section.lines.append(f"Augmentation: {', '.join(augment) or 'none'}.")
    section.lines.append("Software: deepq_widgets (fastai on timm); the task file as run repeats this training with the same seed.")
    return section


def _evaluation_section(card: ModelCard, evaluation: Evaluation | None, tested: Sequence[DatasetEvaluation]) -> CardSection:
    section = CardSection("Evaluation")
    if evaluation is None:
        section.lines.append("No evaluation is left in the workspace.")
        return section
    figures = headline_text(evaluation.metrics.flat(), evaluation.metrics.headline)
    section.lines.append(f"Validation ({evaluation.metrics.cases} cases; 95% intervals): {figures}. {evaluation.source}".strip())
    if (c := evaluation.calibration) is not None:
        section.lines.append(
            f"Calibration ({c.scope}): expected calibration error {format_figure(c.ece, c.ece_interval)}; Brier score {c.brier:.3f}."
        )
    for g in evaluation.subgroups:
        headline = next((n for n in ("auroc", "accuracy") if g.metrics.headline.get(n) is not None), None)
        if headline:
            figure = format_figure(g.metrics.headline[headline], g.metrics.intervals.get(headline))
            section.lines.append(f"Subgroup {g.attribute} = {g.value} ({g.metrics.cases} cases): {headline} {figure}.")
    for e in tested:
        figures = headline_text(e.metrics.flat(), e.metrics.headline)
        section.lines.append(f"Test on {e.dataset} ({e.metrics.cases} cases the model never saw): {figures}.")
    rows = [r for r in evaluation.per_class if r.name != "average"]
    if rows:
        names = [k for k in rows[0].figures() if k != "threshold"]
        section.table = [["class", *names]] + [
            [r.name, *(format_figure(r.figures().get(k), r.intervals.get(k)) for k in names)] for r in rows
        ]
    return section


def _label_lines(found: LabelIssues | None) -> list[str]:
    if found is None:
        return ["Not examined: run `deepq label-issues` (or the task detail's Label review) to look for likely label errors."]
    return [f"{len(found.issues)} of {found.examined} cases have a likely label error by confident learning on {found.source}."]


def _limitations(card: ModelCard, evaluation: Evaluation | None, tested: Sequence[DatasetEvaluation], data) -> list[str]:
    found = [card.metrics.chance, card.metrics.warning]
    if evaluation is not None:
        found += [f"{g.attribute} = {g.value}: {g.warning}" for g in evaluation.subgroups if g.warning]
        found.append("The operating point and the calibration were chosen on the same validation cases that the figures come from.")
    if not tested:
        found.append("No external test set: every figure comes from the training data's own validation cases.")
    if data is not None and not data.grouped_by:
        found.append("The split was by image: cases of one patient may lie on both sides (no patient identifiers were found).")
    return [line for line in found if line]


def card_files(workspace: WorkspacePaths, store: Store, card: ModelCard, answers: dict[str, str] | None = None) -> tuple[str, str]:
    """The paper card of a registered model as (Markdown, HTML), from its run, its evaluations and the author's
    answers (`answers`, else those kept beside the model)."""
    model_id = card.id
    events = store.events(card.source_task) if card.source_task is not None else []
    task_folder = workspace.task_dir(card.source_task) if card.source_task is not None else None
    evaluation = load_evaluation(task_folder) if task_folder is not None else None
    issues = read_label_issues(task_folder) if task_folder is not None else None
    given = answers if answers is not None else read_answers(workspace.model_dir(model_id))
    sections = paper_card(card, events, evaluation, stored_evaluations(workspace, model_id), issues, given)
    return to_markdown(sections), to_html(sections, f"Model card: {card.name}")


def to_markdown(sections: list[CardSection]) -> str:
    out = []
    for s in sections:
        out.append(f"## {s.title}\n")
        out += [f"- {line}" for line in s.lines]
        if s.table:
            out.append("")
            out.append("| " + " | ".join(s.table[0]) + " |")
            out.append("|" + "---|" * len(s.table[0]))
            out += ["| " + " | ".join(row) + " |" for row in s.table[1:]]
        out.append("")
    return "\n".join(out)


def to_html(sections: list[CardSection], title: str) -> str:
    body = ""
    for s in sections:
        body += f"<h2>{html.escape(s.title)}</h2><ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in s.lines) + "</ul>"
        if s.table:
            head = "".join(f"<th>{html.escape(c)}</th>" for c in s.table[0])
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in s.table[1:])
            body += f"<table class='dq-table'><tr>{head}</tr>{rows}</table>"
    head = f"<meta charset='utf-8'><title>{html.escape(title)}</title><style>{REPORT_CSS}</style>"
    return f"<!doctype html><html><head>{head}</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
