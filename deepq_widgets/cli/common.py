"""What every `deepq` command shares: the command table, JSON output, the workspace argument."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from typing import Any

from ..workspace import Workspace

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    COMMANDS[fn.__name__.removeprefix("cmd_")] = fn
    return fn


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


def workspace_of(args: argparse.Namespace) -> Workspace:
    return Workspace(args.workspace)
