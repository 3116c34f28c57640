"""What every `deepq` command shares: the command table (each command with its arguments, beside its
handler), JSON output, the workspace argument."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..workspace import WorkspacePaths

Handler = Callable[[argparse.Namespace], int]
Argument = tuple[tuple[str, ...], dict[str, Any]]


@dataclass(frozen=True)
class Command:
    run: Handler
    help: str
    arguments: tuple[Argument, ...]


COMMANDS: dict[str, Command] = {}  # in the order `deepq --help` lists them


def arg(*names: str, **options: Any) -> Argument:
    """One argument of a command, as `argparse.add_argument` takes it; `choices` may be a function (read when
    the parser is built: the task kinds, say)."""
    return names, options


def command(help: str, *arguments: Argument) -> Callable[[Handler], Handler]:
    """Register `cmd_<name>` as `deepq <name>` (underscores as hyphens) with its help and arguments (and --workspace)."""

    def register(fn: Handler) -> Handler:
        COMMANDS[fn.__name__.removeprefix("cmd_").replace("_", "-")] = Command(fn, help, arguments)  # cmd_label_issues: label-issues
        return fn

    return register


def stderr_progress(stage: str, done: int, total: int) -> None:
    """'decoding 180/400' on stderr, redrawn in place, a new line once done (the dashboard's child reads these)."""
    print(f"\r{stage} {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)


def print_json(data: Any) -> None:
    """Strict JSON: an undefined figure (NaN, infinity) is `null`, which every parser reads."""
    print(json.dumps(strict(data), indent=2, default=str, allow_nan=False))


def strict(data: Any) -> Any:
    """`data` with every non-finite float replaced by None."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: strict(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [strict(v) for v in data]
    return data


def workspace_of(args: argparse.Namespace) -> WorkspacePaths:
    return WorkspacePaths(args.workspace)
