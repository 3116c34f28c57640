"""deepq label-issues, relabel: likely label errors of a task's dataset, and a reviewer's decisions on them."""

from __future__ import annotations

import argparse
import sys

from .common import arg, command, print_json, stderr_progress, workspace_of


@command(
    "list the cases of a task's dataset whose label is probably wrong (confident learning), most suspect first",
    arg("id", type=int),
    arg("--json", action="store_true"),
)
def cmd_label_issues(args: argparse.Namespace) -> int:
    from ..evaluations import read_card
    from ..store import FINISHED, Store
    from ..training.label_issues import LabelIssuesRefused, find_label_issues

    ws = workspace_of(args)
    task = Store(ws.db_path).task(args.id)
    if task.state != FINISHED or not task.model_id:
        print(f"refused: task {args.id} has not finished with a model ({task.state})", file=sys.stderr)
        return 2

    try:
        found = find_label_issues(ws, task.id, task.spec, read_card(ws, task.model_id), stderr_progress)
    except LabelIssuesRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print_json(found.model_dump(mode="json"))
        return 0
    print(f"{len(found.issues)} likely label errors among {found.examined} cases, from {found.source}:")
    for issue in found.issues:
        print(f"  {issue.case}: given {issue.given}, probably {issue.suggested} ({issue.confidence:.2f})")
    return 0


@command(
    "record a reviewer's decision on a case's label in the dataset's label_corrections.csv (label.csv is never edited)",
    arg("dataset"),
    arg("image", help="the image as the dataset names it, relative to its folder"),
    arg("label", help="the label it should have (its given label: kept as it is)"),
)
def cmd_relabel(args: argparse.Namespace) -> int:
    from ..data.catalog import scan_dataset
    from ..data.corrections import Correction, case_name, record_corrections

    ws = workspace_of(args)
    info = scan_dataset(ws, args.dataset)
    given = next((c.labels for c in info.usable if case_name(c, info.path) == args.image), None)
    if given is None or len(given) != 1:
        print(f"refused: {args.image!r} is not a single-label case of dataset {args.dataset!r}", file=sys.stderr)
        return 2
    try:
        print(record_corrections(info.path, [Correction(args.image, given[0], args.label)], info.classes))
    except ValueError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    return 0
