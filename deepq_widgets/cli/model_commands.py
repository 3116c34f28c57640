"""deepq models, export, predict: the model registry."""

from __future__ import annotations

import argparse
import sys

from ..kinds.base import EXPORT_FORMATS
from .common import arg, command, print_json, stderr_progress, workspace_of
from .pacs_commands import URL, USER, pacs_server


@command(
    "list the model registry",
    arg("--json", action="store_true"),
)
def cmd_models(args: argparse.Namespace) -> int:
    from ..evaluations import stored_evaluations, stored_inferences, summary
    from ..store import Store

    ws = workspace_of(args)
    rows = [
        {
            "id": m.id,
            "name": m.name,
            "task": m.task,
            "arch": m.arch,
            "members": m.members,
            "network": m.network,
            "classes": m.classes,
            "metrics": m.metrics.flat(),
            "dataset": m.dataset,
            "source_task": m.source_task,
            "evaluations": [summary(e) for e in stored_evaluations(ws, m.id)],
            "inferences": [{"dataset": r.dataset, "created": r.created, "images": len(r.rows)} for r in stored_inferences(ws, m.id)],
        }
        for m in Store(ws.db_path).models()
    ]
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            print(f"{r['id']:36} {r['task']:13} {r['network']:30} {', '.join(r['classes'])}")
    return 0


@command(
    "export a registered model: safetensors (+JSON), torchscript or onnx",
    arg("model"),
    arg("--format", choices=list(EXPORT_FORMATS), default="onnx"),
    arg("--out", default="exports", help="folder inside the workspace"),
    arg("--uncalibrated", action="store_true", help="the network's own probabilities, without the model's temperature"),
)
def cmd_export(args: argparse.Namespace) -> int:
    from ..training.export import export_model

    print(export_model(workspace_of(args), args.model, args.format, args.out, calibrated=not args.uncalibrated))
    return 0


@command(
    "run a registered model on images or a whole dataset",
    arg("model"),
    arg("images", nargs="*", help="image paths inside the workspace (for a study model: series folders, NIfTI volumes)"),
    arg("--dataset", help="also every readable case of this dataset, labelled or not (the run is kept in the model's inference list)"),
    arg("--heatmaps", help="write Grad-CAM heatmaps (and masks) to this folder in the workspace"),
    arg("--uncalibrated", action="store_true", help="the network's own probabilities, without the model's temperature"),
    arg("--to-pacs", action="store_true", help="send the results back to the PACS the studies were imported from (DICOM SR or SEG)"),
    URL,
    USER,
    arg("--again", action="store_true", help="with --to-pacs: also studies this model's results were already sent for"),
)
def cmd_predict(args: argparse.Namespace) -> int:
    from ..training.export import predict_to_files

    if args.to_pacs:
        return _predict_to_pacs(args)
    ws = workspace_of(args)
    clean = predict_to_files(ws, args.model, args.images, args.dataset, args.heatmaps, calibrated=not args.uncalibrated)
    print_json([row.model_dump(mode="json") for row in clean])
    return 0


def _predict_to_pacs(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from ..pacs.origin import NotFromPacs
    from ..pacs.server import PacsError
    from ..training.to_pacs import send_results

    if args.uncalibrated or args.heatmaps:
        print("refused: --to-pacs sends the calibrated calls; --uncalibrated and --heatmaps are for files here", file=sys.stderr)
        return 2
    try:
        report = send_results(workspace_of(args), pacs_server(args), args.model, args.images, args.dataset, stderr_progress, args.again)
    except (PacsError, NotFromPacs, ValueError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    print_json(asdict(report))
    print(report.summary(), file=sys.stderr)
    return 0


@command(
    "score a registered model on the cases of a labelled dataset it never saw (figures with 95% intervals)",
    arg("model"),
    arg("--dataset", required=True),
    arg("--report", help="also write the HTML insight report to this file in the workspace"),
    arg(
        "--include-seen-cases",
        action="store_true",
        help="also score cases that share files, patients or studies with the model's training data (said in the result)",
    ),
    arg("--json", action="store_true"),
    arg("--uncalibrated", action="store_true", help="the network's own probabilities, without the model's temperature"),
)
def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..files import atomic_write_text
    from ..intervals import format_figure
    from ..report import evaluation_report, headline_text
    from ..training.dataset_evaluation import EvaluationRefused, evaluate_dataset

    ws = workspace_of(args)

    target = ws.report_path(args.report) if args.report else None  # refused before the work, not after
    try:
        result = evaluate_dataset(ws, args.model, args.dataset, stderr_progress, args.include_seen_cases, calibrated=not args.uncalibrated)
    except EvaluationRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    if target is not None:
        atomic_write_text(evaluation_report(result), target)
    if args.json:
        print_json(
            {"model": args.model, "dataset": args.dataset, "metrics": result.metrics.flat(), "overlap": result.overlap}
            | {"per_class": [r.model_dump(by_alias=True, exclude_none=True) for r in result.per_class]}
            | {"calibration": result.calibration.model_dump(mode="json") if result.calibration else None}
            | {
                "subgroups": [
                    {"attribute": g.attribute, "value": g.value, **g.metrics.flat(), "warning": g.warning} for g in result.subgroups
                ]
            }
        )
        return 0
    print(f"{args.model} on {args.dataset}: {headline_text(result.metrics.flat(), result.metrics.headline)} ({result.metrics.cases} cases)")
    if result.calibration is not None:
        c = result.calibration
        print(f"calibration: expected calibration error {format_figure(c.ece, c.ece_interval)}, Brier score {c.brier:.3f}")
    subgroups = [f"{g.attribute} = {g.value}: {g.warning}" for g in result.subgroups if g.warning]
    for line in [said for said in (result.metrics.chance, result.metrics.warning) if said] + result.overlap + subgroups:
        print(f"warning: {line}")
    return 0


@command(
    "a model card for a paper (TRIPOD+AI / CLAIM items the run knows; the rest as questions for the author), as Markdown",
    arg("model"),
    arg("--html", help="also write it as an HTML page to this file in the workspace"),
    arg(
        "--answers",
        help="a JSON file of the author's answers (intended_use, data_source, reference_standard, population, limitations)",
    ),
)
def cmd_card(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ..evaluations import read_card
    from ..files import atomic_write_text
    from ..paper_card import ANSWERS, QUESTIONS, card_files, read_answers
    from ..store import Store

    ws = workspace_of(args)
    if args.answers:
        given = json.loads(Path(args.answers).read_text())
        unknown = sorted(set(given) - set(QUESTIONS)) if isinstance(given, dict) else ["(not an object)"]
        if unknown:
            print(f"refused: unknown answers {', '.join(unknown)}; the questions are {', '.join(QUESTIONS)}", file=sys.stderr)
            return 2
        atomic_write_text(json.dumps(read_answers(ws.model_dir(args.model)) | given, indent=2), ws.model_dir(args.model) / ANSWERS)
    target = ws.report_path(args.html) if args.html else None
    markdown, page = card_files(ws, Store(ws.db_path), read_card(ws, args.model))
    if target is not None:
        atomic_write_text(page, target)
    print(markdown)
    return 0
