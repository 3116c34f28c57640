"""What every `deepq` command shares: the command table, JSON output, the workspace argument."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from ..workspace import Workspace

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    COMMANDS[fn.__name__.removeprefix("cmd_")] = fn
    return fn


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def workspace_of(args: argparse.Namespace) -> Workspace:
    return Workspace(args.workspace)
