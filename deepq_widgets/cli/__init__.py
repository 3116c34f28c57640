"""The `deepq` command: the same tasks as the wizard, headless, for scripts and clusters.

JSON output keys are a contract used by scripts and tests; keep them stable. Choices come
from the spec's enums and the task-kind registry, so a new kind is a new `--task` value.
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import kinds
from ..kinds.base import EXPORT_FORMATS
from ..spec import Flow, Modality, SearchMethod, Tuning
from ..store import STATES
from ..tasks import WorkerFailed
from ..workspace import WorkspaceError
from . import data_commands, model_commands, task_commands  # noqa: F401  (they register their commands)
from .common import COMMANDS

__all__ = ["build_parser", "main"]


def values(enum: type) -> list[str]:
    return [member.value for member in enum]


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
    p.add_argument("--task", choices=kinds.names())
    p.add_argument("--json", action="store_true")

    p = add("preview", "write a page of case thumbnails as PNG")
    p.add_argument("dataset")
    p.add_argument("--out", required=True)
    p.add_argument("--page", type=int, default=0, help="page number, from 0")
    p.add_argument("--page-size", type=int, default=24)
    p.add_argument("--show-identifiers", action="store_true", help="draw patient identifiers (off by default)")

    add("schema", "print the TaskSpec JSON schema")

    p = add("spec", "print a validated TaskSpec JSON, refusing what the wizard refuses")
    p.add_argument("--flow", required=True, choices=values(Flow))
    p.add_argument("--task", choices=kinds.names())
    p.add_argument("--preset")
    p.add_argument("--dataset")
    p.add_argument("--model", help="arch.tag from the zoo (General) or a registry model id (Retrain)")
    p.add_argument("--pretrain", default="default", help="pretraining source id, or 'none'")
    p.add_argument("--tuning", choices=values(Tuning))
    p.add_argument("--modality", choices=values(Modality))
    p.add_argument("--size", type=int, help="Auto select model preference, 1 (small) to 5 (large)")
    p.add_argument("--ensemble", action="store_true", help="Auto: a 5-fold ensemble on datasets under 300 cases (about 3x the time)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--search", choices=values(SearchMethod), help="hyperparameter search method")
    p.add_argument("--trials", type=int, default=8, help="search trials (1-48)")
    p.add_argument("--image-size", type=int)
    p.add_argument(
        "--operating-point",
        metavar="RULE[:TARGET]",
        help="where findings are called: youden (default), sensitivity:0.9 or specificity:0.95",
    )
    p.add_argument("--seed", type=int)
    p.add_argument("--name")
    p.add_argument("--devices", type=int, help="train on this many GPUs in data parallel (CPU processes where there is no GPU)")
    p.add_argument("--estimate", action="store_true", help="measure this machine's speed (a few seconds) and say how long the plan takes")

    p = add("throughput", "measure how fast this machine trains a network (kept in the workspace for estimates)")
    p.add_argument("--arch", required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--batch", type=int, default=32)
    tasks = kinds.names()
    p = add("zoo", "list the model zoo")
    p.add_argument("--task", choices=tasks)
    p.add_argument("--family")
    p.add_argument("--search", help="words that must all appear in the name, family or pretraining")
    p.add_argument("--offline", action="store_true", help="only entries whose weights are on this machine")
    p.add_argument("--json", action="store_true")

    p = add("recommend", "Auto select: a network for a task, modality and size preference")
    p.add_argument("--task", required=True, choices=tasks)
    p.add_argument("--modality", required=True, choices=values(Modality))
    p.add_argument("--size", type=int, default=2, choices=range(1, 6))
    p.add_argument("--json", action="store_true")

    p = add("presets", "list the specialised presets")
    p.add_argument("--json", action="store_true")

    p = add("run", "submit a task file and follow it to the end")
    p.add_argument("task_file")
    p.add_argument("--detach", action="store_true", help="print the task id and return at once")

    p = add("tasks", "list tasks")
    p.add_argument("--state", action="append", choices=list(STATES))
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
    p.add_argument("--format", choices=list(EXPORT_FORMATS), default="onnx")
    p.add_argument("--out", default="exports", help="folder inside the workspace")

    p = add("predict", "run a registered model on images or a whole dataset")
    p.add_argument("model")
    p.add_argument("images", nargs="*", help="image paths inside the workspace")
    p.add_argument("--dataset", help="also every usable case of this dataset (the run is kept in the model's inference list)")
    p.add_argument("--heatmaps", help="write Grad-CAM heatmaps (classification) to this folder in the workspace")

    p = add("evaluate", "score a registered model on a labelled dataset it never trained on (figures with 95% intervals)")
    p.add_argument("model")
    p.add_argument("--dataset", required=True)
    p.add_argument("--report", help="also write the HTML insight report to this file in the workspace")
    p.add_argument("--json", action="store_true")

    p = add("serve", "serve the dashboard with Voilà on this workspace")
    p.add_argument("--demo", action="store_true", help="make the demo datasets first (skipped when they exist)")
    p.add_argument("--port", type=int, default=8866)
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface: then a token is required)")
    p.add_argument("--token", help="the token a network address requires (default: $DEEPQ_TOKEN, else a new random one, printed)")
    p.add_argument("--allow-host", action="append", help="another name browsers use for this server (repeatable)")
    p.add_argument("--no-preheat", action="store_true", help="start each page's kernel on demand (saves one idle kernel, ~5 s per page)")

    p = add("worker", "run the worker in the foreground")
    p.add_argument("--idle-exit", type=float, default=60.0, help="seconds of empty queue before exiting")
    p.add_argument("--threads", type=int, default=None, help="torch threads per task (default: the cores, shared by the slots)")
    p.add_argument("--slots", type=int, default=None, help="tasks at once (default: $DEEPQ_WORKER_SLOTS, else one per GPU, else 1)")
    p.add_argument("--ray", metavar="ADDRESS", help="run each task on this Ray cluster ('local': start Ray here; $DEEPQ_RAY_ADDRESS)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command.replace("-", "_")](args)
    except (WorkspaceError, WorkerFailed, FileNotFoundError, KeyError, ValueError, OSError) as exc:
        print(f"deepq {args.command}: {exc}", file=sys.stderr)
        return 2
