"""deepq demo, datasets, preview, schema, spec, zoo, recommend, presets: the data and the choices."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import kinds
from ..choices import options
from ..spec import Flow, Modality
from ..workspace import WorkspacePaths
from .common import Argument, arg, command, print_json, workspace_of


def spec_arguments() -> list[Argument]:
    """A flag per choice of the task file (choices.options(): every hyperparameter included), typed as it is."""
    out = []
    for o in options():
        if o.type is bool:
            out.append(arg(o.flag, action=argparse.BooleanOptionalAction, help=o.help))
        else:
            out.append(arg(o.flag, type=o.type, choices=o.values, default=o.default, help=o.help))
    return out


@command(
    "create the demo workspace datasets",
    arg("--seed", type=int, default=0),
    arg("--force", action="store_true", help="remake datasets that exist"),
)
def cmd_demo(args: argparse.Namespace) -> int:
    from ..data.demo import create_demo

    ws = workspace_of(args)
    timings = create_demo(ws, seed=args.seed, force=args.force)
    made = ", ".join(f"{k} ({v:.1f}s)" for k, v in timings.items()) or "nothing (all demo datasets exist; --force remakes them)"
    print(f"demo workspace {ws.root}: made {made}")
    return 0


@command(
    "list the workspace datasets",
    arg("--task", choices=kinds.names),
    arg("--json", action="store_true"),
)
def cmd_datasets(args: argparse.Namespace) -> int:
    from ..data.catalog import scan_workspace

    items = []
    for info in scan_workspace(workspace_of(args)):
        item = info.to_dict()
        if args.task:
            item["fit"], item["reason"] = info.fit(args.task)
        items.append(item)
    if args.json:
        print_json(items)
        return 0
    for item in items:
        fit = "" if not args.task else ("  fits" if item["fit"] else f"  unfit: {item['reason']}")
        kind = item["annotation"] or "?"
        print(f"{item['name']:28} {kind:13} {item['cases']:5} cases  {item['format']:5} {len(item['problems'])} problems{fit}")
    return 0


@command(
    "write a page of case thumbnails as PNG",
    arg("dataset"),
    arg("--out", required=True),
    arg("--page", type=int, default=0, help="page number, from 0"),
    arg("--page-size", type=int, default=24),
    arg("--show-identifiers", action="store_true", help="draw patient identifiers (off by default)"),
)
def cmd_preview(args: argparse.Namespace) -> int:
    from ..data.catalog import scan_dataset
    from ..data.preview import page_count, render_preview

    ws = workspace_of(args)
    info = scan_dataset(ws, args.dataset)
    out = Path(args.out)  # where the user wants the picture; it holds no patient identifiers unless asked
    out.write_bytes(render_preview(info, page=args.page, page_size=args.page_size, show_identifiers=args.show_identifiers))
    print(f"wrote page {args.page + 1} of {page_count(info, args.page_size)} to {out}")
    return 0


@command("print the TaskSpec JSON schema")
def cmd_schema(args: argparse.Namespace) -> int:
    from ..spec import TaskSpec

    print(TaskSpec.schema_json())
    return 0


@command(
    "print a validated TaskSpec JSON, refusing what the wizard refuses",
    arg("--flow", required=True, choices=[f.value for f in Flow]),
    *spec_arguments(),
    arg("--estimate", action="store_true", help="measure this machine's speed (a few seconds) and say how long the plan takes"),
)
def cmd_spec(args: argparse.Namespace) -> int:
    from ..choices import build_spec
    from ..duration import describe_seconds
    from ..spec import SpecError

    choices = {o.name: getattr(args, o.name) for o in options()}
    try:
        spec, wizard = build_spec(workspace_of(args), args.flow, **choices)
    except SpecError as exc:
        print("refused: " + "\n  ".join(exc.problems), file=sys.stderr)
        return 2
    forecast = wizard.forecast(spec)
    if forecast is not None:  # what will run, and why, beside the task file
        plan = forecast.plan
        settings = f"plan: {plan.image_size} px, batch {plan.hyper.batch_size}, up to {plan.hyper.epochs} epochs, lr {plan.hyper.lr:g}"
        print("\n".join(f"# {line}" for line in [settings, *plan.notes]), file=sys.stderr)
        if args.estimate:
            from ..training.throughput import measured

            speed = measured(workspace_of(args), spec.model.arch, plan.image_size, forecast.channels, plan.hyper.batch_size)
            took = describe_seconds(wizard.forecast(spec, speed).seconds)
            print(f"# takes at most {took} here (measured: {speed.train:.0f} training img/s)", file=sys.stderr)
    print(spec.to_json())
    return 0


# -- zoo, recommend, presets -----------------------------------------------------------------
@command(
    "list the model zoo",
    arg("--task", choices=kinds.names),
    arg("--family"),
    arg("--search", help="words that must all appear in the name, family or pretraining"),
    arg("--offline", action="store_true", help="only entries whose weights are on this machine"),
    arg("--json", action="store_true"),
)
def cmd_zoo(args: argparse.Namespace) -> int:
    from .. import kinds, zoo

    ws = WorkspacePaths(args.workspace, create=False) if Path(args.workspace).is_dir() else None
    fits = kinds.get(args.task).fits_network if args.task else None
    entries = [
        zoo.entry_summary(e, ws) | {"tasks": [k.name for k in kinds.all_kinds() if k.fits_network(e)]}
        for e in zoo.query(fits=fits, family=args.family, text=args.search or "")
    ]
    if args.offline:
        entries = [e for e in entries if e["offline_available"]]
    if args.json:
        print_json(entries)
        return 0
    for e in entries:
        top1 = f"{e['top1']:.1f}" if e["top1"] else "  -  "
        here = "offline" if e["offline_available"] else ""
        print(f"{e['name']:52} {e['family']:14} {e['params_m']:8.1f}M {e['gflops']:8.2f} GFLOPs  top1 {top1}  {here}")
    return 0


@command(
    "Auto select: a network for a task, modality and size preference",
    arg("--task", required=True, choices=kinds.names),
    arg("--modality", required=True, choices=[m.value for m in Modality]),
    arg("--size", type=int, default=2, choices=range(1, 6)),
    arg("--json", action="store_true"),
)
def cmd_recommend(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from .. import zoo

    ws = WorkspacePaths(args.workspace, create=False) if Path(args.workspace).is_dir() else None
    rec = asdict(zoo.recommend(args.task, args.modality, args.size, workspace=ws))
    if args.json:
        print_json(rec)
    else:
        print(f"{rec['model']} at {rec['image_size']} px, batch {rec['batch_size']}\n{rec['reason']}")
    return 0


@command(
    "list the specialised presets",
    arg("--json", action="store_true"),
)
def cmd_presets(args: argparse.Namespace) -> int:
    from ..presets import load_presets

    items = [p.summary() for p in load_presets().values()]
    if args.json:
        print_json(items)
    else:
        for p in items:
            print(f"{p['id']:24} {p['task']:13} {p['modality']:6} {', '.join(p['classes'])}")
    return 0


@command(
    "measure how fast this machine trains a network (kept in the workspace for estimates)",
    arg("--arch", required=True),
    arg("--size", type=int, required=True),
    arg("--channels", type=int, default=3),
    arg("--batch", type=int, default=32),
)
def cmd_throughput(args: argparse.Namespace) -> int:
    from ..training.throughput import measured

    speed = measured(workspace_of(args), args.arch, args.size, args.channels, args.batch)
    print_json({"train_img_per_s": speed.train, "evaluate_img_per_s": speed.evaluate})
    return 0
