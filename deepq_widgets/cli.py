"""The `deepq` command: the same tasks as the wizard, headless, for scripts and clusters.

JSON output keys are a contract used by scripts and tests; keep them stable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .workspace import Workspace, WorkspaceError

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    COMMANDS[fn.__name__.removeprefix("cmd_")] = fn
    return fn


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _workspace(args: argparse.Namespace) -> Workspace:
    return Workspace(args.workspace)


# -- foundation: demo, datasets, preview, spec, schema ---------------------------------------
@command
def cmd_demo(args: argparse.Namespace) -> int:
    from .data.demo import create_demo

    ws = _workspace(args)
    timings = create_demo(ws, seed=args.seed, force=args.force)
    made = ", ".join(f"{k} ({v:.1f}s)" for k, v in timings.items()) or "nothing (all demo datasets exist; --force remakes them)"
    print(f"demo workspace {ws.root}: made {made}")
    return 0


@command
def cmd_datasets(args: argparse.Namespace) -> int:
    from .data.catalog import scan_workspace

    items = []
    for info in scan_workspace(_workspace(args)):
        item = info.to_dict()
        if args.task:
            item["fit"], item["reason"] = info.fit(args.task)
        items.append(item)
    if args.json:
        _print_json(items)
        return 0
    for item in items:
        fit = "" if not args.task else ("  fits" if item["fit"] else f"  unfit: {item['reason']}")
        kind = item["annotation"] or "?"
        print(f"{item['name']:28} {kind:13} {item['cases']:5} cases  {item['format']:5} {len(item['problems'])} problems{fit}")
    return 0


@command
def cmd_preview(args: argparse.Namespace) -> int:
    from .data.catalog import scan_dataset
    from .data.preview import page_count, render_preview

    ws = _workspace(args)
    info = scan_dataset(ws, args.dataset)
    out = Path(args.out)  # where the user wants the picture; it holds no patient identifiers unless asked
    out.write_bytes(render_preview(info, page=args.page, page_size=args.page_size, show_identifiers=args.show_identifiers))
    print(f"wrote page {args.page + 1} of {page_count(info, args.page_size)} to {out}")
    return 0


@command
def cmd_schema(args: argparse.Namespace) -> int:
    from .spec import TaskSpec

    print(TaskSpec.schema_json())
    return 0


@command
def cmd_spec(args: argparse.Namespace) -> int:
    from .context import workspace_context
    from .spec import ModelChoice, SpecError
    from .wizard import Wizard

    wizard = Wizard(workspace_context(_workspace(args)))
    wizard.update(flow=args.flow)
    choices = {"task": args.task, "preset": args.preset, "dataset": args.dataset, "tuning": args.tuning, "seed": args.seed}
    if args.model and args.flow == "specialized":
        print("refused: the Specialized flow fixes the network; leave out --model", file=sys.stderr)
        return 2
    if args.model and args.flow == "retrain":
        choices["base_model"] = args.model
    elif args.model:
        choices["model"] = ModelChoice(arch=args.model, pretrain=args.pretrain)
        choices["tuning"] = args.tuning or "manual"
    if args.image_size:
        choices["image_size"] = args.image_size
    choices["name"] = args.name or f"{args.preset or args.task or args.flow}-{args.dataset or 'task'}"
    wizard.update(**{k: v for k, v in choices.items() if v is not None})
    try:
        if args.epochs:
            wizard.set_hyper(epochs=args.epochs)
        if args.search:
            from .spec import Search

            wizard.update(search=Search(method=args.search, trials=args.trials))
        if args.modality or args.size:
            wizard.set_auto(**{k: v for k, v in {"modality": args.modality, "size": args.size}.items() if v is not None})
        spec = wizard.spec()
    except SpecError as exc:
        print("refused: " + "\n  ".join(exc.problems), file=sys.stderr)
        return 2
    print(spec.to_json())
    return 0


# -- zoo, recommend, presets -----------------------------------------------------------------
@command
def cmd_zoo(args: argparse.Namespace) -> int:
    from . import zoo

    ws = Workspace(args.workspace, create=False) if Path(args.workspace).is_dir() else None
    entries = [
        e.summary(ws) for e in zoo.query(task=args.task, family=args.family, text=args.search or "", offline=args.offline, workspace=ws)
    ]
    if args.json:
        _print_json(entries)
        return 0
    for e in entries:
        top1 = f"{e['top1']:.1f}" if e["top1"] else "  -  "
        here = "offline" if e["offline_available"] else ""
        print(f"{e['name']:52} {e['family']:14} {e['params_m']:8.1f}M {e['gflops']:8.2f} GFLOPs  top1 {top1}  {here}")
    return 0


@command
def cmd_recommend(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from . import zoo

    ws = Workspace(args.workspace, create=False) if Path(args.workspace).is_dir() else None
    rec = asdict(zoo.recommend(args.task, args.modality, args.size, workspace=ws))
    if args.json:
        _print_json(rec)
    else:
        print(f"{rec['model']} at {rec['image_size']} px, batch {rec['batch_size']}\n{rec['reason']}")
    return 0


@command
def cmd_presets(args: argparse.Namespace) -> int:
    from .presets import load_presets

    items = [p.summary() for p in load_presets().values()]
    if args.json:
        _print_json(items)
    else:
        for p in items:
            print(f"{p['id']:24} {p['task']:13} {p['modality']:6} {', '.join(p['classes'])}")
    return 0


# -- tasks: run, tasks, stop, resume, models, worker --------------------------------------------
@command
def cmd_run(args: argparse.Namespace) -> int:
    from .spec import TaskSpec
    from .tasks import submit

    ws = _workspace(args)
    spec = TaskSpec.from_json(Path(args.task_file).read_text())
    task_id = submit(ws, spec)
    print(f"task {task_id} {spec.name!r} submitted to {ws.root}", file=sys.stderr)
    if args.detach:
        print(task_id)
        return 0
    return _follow(ws, task_id)


def _follow(ws: Workspace, task_id: int) -> int:
    """A terminal progress bar until the task ends; non-zero exit on Error."""
    import time

    from .store import ENDED, ERROR, Store
    from .tasks import ensure_worker, reap_interrupted

    store = Store(ws.db_path)
    width = 30
    while True:
        reap_interrupted(store)
        task = store.task(task_id)
        if task.state == "waiting":
            ensure_worker(ws)
        bar = "#" * int(task.progress * width)
        main_metric = next(iter(task.metrics.items()), None)
        metric = f"  {main_metric[0]} {main_metric[1]:.3f}" if main_metric and isinstance(main_metric[1], float) else ""
        line = f"\r[{bar:<{width}}] {task.progress:4.0%}  epoch {task.epoch}/{task.epochs or '?'}  {task.state}{metric}"
        print(line, end="", file=sys.stderr, flush=True)
        if task.state in ENDED:
            print(file=sys.stderr)
            if task.state == ERROR:
                print(f"error: {task.error}", file=sys.stderr)
            _print_json(task.summary())
            return 1 if task.state == ERROR else 0
        time.sleep(1.0)


@command
def cmd_tasks(args: argparse.Namespace) -> int:
    from .store import Store
    from .tasks import reap_interrupted

    store = Store(_workspace(args).db_path)
    reap_interrupted(store)
    rows = [t.summary() for t in store.tasks(tuple(args.state) if args.state else None)]
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            print(f"{r['id']:4} {r['name'][:30]:30} {r['state']:9} {r['progress']:5.0%}  epoch {r['epoch']}  {r['error'] or ''}")
    return 0


@command
def cmd_stop(args: argparse.Namespace) -> int:
    from .tasks import stop

    stop(_workspace(args), args.id)
    print(f"stop requested for task {args.id}")
    return 0


@command
def cmd_resume(args: argparse.Namespace) -> int:
    from .tasks import resume

    ws = _workspace(args)
    resume(ws, args.id)
    print(f"task {args.id} queued again; it continues from its last checkpoint", file=sys.stderr)
    return 0 if args.detach else _follow(ws, args.id)


@command
def cmd_models(args: argparse.Namespace) -> int:
    from .store import Store

    rows = [
        {
            "id": m["id"],
            "name": m["name"],
            "task": m["card"]["task"],
            "arch": m["card"]["arch"],
            "classes": m["card"]["classes"],
            "metrics": m["card"]["metrics"],
            "dataset": m["card"].get("dataset"),
            "source_task": m["task_id"],
        }
        for m in Store(_workspace(args).db_path).models()
    ]
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            print(f"{r['id']:36} {r['task']:13} {r['arch']:30} {', '.join(r['classes'])}")
    return 0


@command
def cmd_export(args: argparse.Namespace) -> int:
    from .training.export import export_model

    print(export_model(_workspace(args), args.model, args.format, args.out))
    return 0


@command
def cmd_predict(args: argparse.Namespace) -> int:
    from .training.export import predict

    ws = _workspace(args)
    paths = [ws.resolve(p) for p in args.images]
    if args.dataset:
        from .data.catalog import scan_dataset

        paths += [c.image for c in scan_dataset(ws, args.dataset).usable]
    results = predict(ws, args.model, paths, heatmaps=bool(args.heatmaps))
    if args.heatmaps:
        from PIL import Image

        folder = ws.resolve(args.heatmaps)
        folder.mkdir(parents=True, exist_ok=True)
        for r in results:
            if r.get("heatmap") is not None:
                Image.fromarray((r["heatmap"] * 255).astype("uint8")).save(folder / f"{Path(r['image']).stem}.heatmap.png")
    clean = [{k: v for k, v in r.items() if k not in ("heatmap", "mask")} for r in results]
    _print_json(clean)
    return 0


@command
def cmd_worker(args: argparse.Namespace) -> int:
    from .training.worker import serve

    serve(_workspace(args), args.idle_exit, args.threads)
    return 0


def voila_argv(voila: str, port: int, ip: str) -> list[str]:
    """Voilà on the bundled dashboard notebook, configured by the voila.json beside it
    (idle kernels culled, only widget messages allowed: a page cannot run code)."""
    from .resources import data_dir

    notebooks = data_dir("notebooks")
    config = f"--Voila.config_file_paths={[str(notebooks)]!r}"
    return [voila, str(notebooks / "create_task.ipynb"), f"--port={port}", f"--Voila.ip={ip}", "--no-browser", config]


@command
def cmd_serve(args: argparse.Namespace) -> int:
    """Replace this process with Voilà, so that signals reach the server itself."""
    import shutil

    ws = _workspace(args)
    if args.demo:
        cmd_demo(argparse.Namespace(workspace=args.workspace, seed=0, force=False))
    voila = shutil.which("voila", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if voila is None:
        raise FileNotFoundError("voila is not installed in this environment (pip install voila)")
    os.environ.update(DEEPQ_WORKSPACE=str(ws.root), HF_HUB_OFFLINE=os.environ.get("HF_HUB_OFFLINE", "1"))
    os.execv(voila, voila_argv(voila, args.port, args.ip))


# -- argument parsing ----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepq", description="Medical-imaging training tasks from the command line.")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.add_argument("--workspace", default=os.environ.get("DEEPQ_WORKSPACE", "workspace"), help="workspace folder (default ./workspace)")
        return p

    p = add("demo", "create the demo workspace datasets")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="remake datasets that exist")

    p = add("datasets", "list the workspace datasets")
    p.add_argument("--task", choices=["single_label", "multi_label", "detection", "segmentation"])
    p.add_argument("--json", action="store_true")

    p = add("preview", "write a page of case thumbnails as PNG")
    p.add_argument("dataset")
    p.add_argument("--out", required=True)
    p.add_argument("--page", type=int, default=0, help="page number, from 0")
    p.add_argument("--page-size", type=int, default=24)
    p.add_argument("--show-identifiers", action="store_true", help="draw patient identifiers (off by default)")

    add("schema", "print the TaskSpec JSON schema")

    p = add("spec", "print a validated TaskSpec JSON, refusing what the wizard refuses")
    p.add_argument("--flow", required=True, choices=["general", "specialized", "retrain"])
    p.add_argument("--task", choices=["single_label", "multi_label", "detection", "segmentation"])
    p.add_argument("--preset")
    p.add_argument("--dataset")
    p.add_argument("--model", help="arch.tag from the zoo (General) or a registry model id (Retrain)")
    p.add_argument("--pretrain", default="default", help="pretraining source id, or 'none'")
    p.add_argument("--tuning", choices=["auto", "manual"])
    p.add_argument("--modality", choices=["CT", "MRI", "X-ray", "Fundus", "Other"])
    p.add_argument("--size", type=int, help="Auto select model preference, 1 (small) to 5 (large)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--search", choices=["none", "grid", "random", "pbt"], help="hyperparameter search method")
    p.add_argument("--trials", type=int, default=8, help="search trials (1-48)")
    p.add_argument("--image-size", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--name")
    tasks = ["single_label", "multi_label", "detection", "segmentation"]
    p = add("zoo", "list the model zoo")
    p.add_argument("--task", choices=tasks)
    p.add_argument("--family")
    p.add_argument("--search", help="words that must all appear in the name, family or pretraining")
    p.add_argument("--offline", action="store_true", help="only entries whose weights are on this machine")
    p.add_argument("--json", action="store_true")

    p = add("recommend", "Auto select: a network for a task, modality and size preference")
    p.add_argument("--task", required=True, choices=tasks)
    p.add_argument("--modality", required=True, choices=["CT", "MRI", "X-ray", "Fundus", "Other"])
    p.add_argument("--size", type=int, default=2, choices=range(1, 6))
    p.add_argument("--json", action="store_true")

    p = add("presets", "list the specialised presets")
    p.add_argument("--json", action="store_true")

    p = add("run", "submit a task file and follow it to the end")
    p.add_argument("task_file")
    p.add_argument("--detach", action="store_true", help="print the task id and return at once")

    p = add("tasks", "list tasks")
    p.add_argument("--state", action="append", choices=["waiting", "running", "finished", "stopped", "error"])
    p.add_argument("--json", action="store_true")

    p = add("stop", "stop a task (it ends as Stopped)")
    p.add_argument("id", type=int)

    p = add("resume", "continue an interrupted, failed or stopped task from its last checkpoint")
    p.add_argument("id", type=int)
    p.add_argument("--detach", action="store_true")

    p = add("models", "list the model registry")
    p.add_argument("--json", action="store_true")

    p = add("export", "export a registered model: safetensors (+JSON), torchscript or onnx")
    p.add_argument("model")
    p.add_argument("--format", choices=["safetensors", "torchscript", "onnx"], default="onnx")
    p.add_argument("--out", default="exports", help="folder inside the workspace")

    p = add("predict", "run a registered model on images or a whole dataset")
    p.add_argument("model")
    p.add_argument("images", nargs="*", help="image paths inside the workspace")
    p.add_argument("--dataset", help="also every usable case of this dataset")
    p.add_argument("--heatmaps", help="write Grad-CAM heatmaps (classification) to this folder in the workspace")

    p = add("serve", "serve the dashboard with Voilà on this workspace")
    p.add_argument("--demo", action="store_true", help="make the demo datasets first (skipped when they exist)")
    p.add_argument("--port", type=int, default=8866)
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")

    p = add("worker", "run the worker in the foreground")
    p.add_argument("--idle-exit", type=float, default=60.0, help="seconds of empty queue before exiting")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: the cores this process may use)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command.replace("-", "_")](args)
    except (WorkspaceError, FileNotFoundError, KeyError, ValueError, OSError) as exc:
        print(f"deepq {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
