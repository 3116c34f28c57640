"""The task-kind registry, in the style of timm's `register_model`.

Each kind lives in one folder here: `__init__.py` is its pure part (see base.TaskKind) and
`training.py` its training part. Everything else looks a kind up by the TaskSpec's `task`:

    kind = kinds.get(spec.task)
    kind.dataset_problem(info)         # pure
    kind.trainer.build_model(...)      # imports torch on first use

A new kind registers itself with `register(TaskKind(...))`; nothing else needs editing.
"""

from __future__ import annotations

import difflib

from .base import TaskKind

_KINDS: dict[str, TaskKind] = {}


class UnknownTaskKind(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def register(kind: TaskKind) -> TaskKind:
    """Add (or replace) a kind; returns it, so a module can keep `KIND = register(...)`."""
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    _KINDS.pop(name, None)


def get(name: str) -> TaskKind:
    """The kind called `name`; an unknown name lists the close ones."""
    if name in _KINDS:
        return _KINDS[name]
    close = difflib.get_close_matches(str(name), list(_KINDS), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(_KINDS)}"
    raise UnknownTaskKind(f"unknown task kind {name!r}{hint}")


def names() -> list[str]:
    return list(_KINDS)


def all_kinds() -> list[TaskKind]:
    return list(_KINDS.values())


# The built-in kinds register themselves, in the order the task step shows them.
from . import single_label, multi_label, detection, segmentation  # noqa: E402, I001

__all__ = [
    "TaskKind",
    "UnknownTaskKind",
    "all_kinds",
    "detection",
    "get",
    "multi_label",
    "names",
    "register",
    "segmentation",
    "single_label",
    "unregister",
]
