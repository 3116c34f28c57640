"""The `deepq` command: the same tasks as the wizard, headless, for scripts and clusters.

JSON output keys are a contract used by scripts and tests; keep them stable. Each command's arguments
sit beside its handler (cli/*_commands.py); `deepq spec`'s flags are choices.options(), so a new kind is
a new `--task` value and a new hyperparameter a new flag, with no line here.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..tasks import WorkerFailed
from ..workspace import WorkspaceError
from . import data_commands, label_commands, model_commands, pacs_commands, task_commands  # noqa: F401  (they register their commands)
from .common import COMMANDS

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Every registered command, with the arguments written beside its handler."""
    parser = argparse.ArgumentParser(prog="deepq", description="Medical-imaging training tasks from the command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, found in COMMANDS.items():
        p = sub.add_parser(name, help=literal(found.help))
        p.add_argument("--workspace", default=os.environ.get("DEEPQ_WORKSPACE", "workspace"), help="workspace folder (default ./workspace)")
        for names, given in found.arguments:
            choices = given.get("choices")
            resolved = {"choices": choices()} if callable(choices) else {}
            p.add_argument(*names, **given | resolved | ({"help": literal(given["help"])} if given.get("help") else {}))
    return parser


def literal(text: str) -> str:
    """A help text as written: argparse formats help with %, so "95% intervals" would fail `deepq --help`."""
    return text.replace("%", "%%")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except (WorkspaceError, WorkerFailed, FileNotFoundError, KeyError, ValueError, OSError) as exc:
        print(f"deepq {args.command}: {exc}", file=sys.stderr)
        return 2
