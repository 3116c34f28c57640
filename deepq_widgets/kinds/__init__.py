"""The task-kind registry: every kind is published through the `deepq_widgets.kinds` entry point.

Each kind lives in one folder: `__init__.py` is its pure part (see base.TaskKind) and
`training.py` its training part. A package publishes a kind in its own pyproject.toml,

    [project.entry-points."deepq_widgets.kinds"]
    regression = "deepq_widgets.kinds.regression:KIND"

and every process (the kernel, the worker, task processes, ranks, Ray nodes, the dashboard's
`python -I` children) finds the same kinds, the built-in ones the same way. Everything else
looks a kind up by the TaskSpec's `task`:

    kind = kinds.get(spec.task)
    kind.dataset_problem(info)         # pure
    kind.trainer.build_model(...)      # imports torch on first use

`register(kind)` adds a kind to this process only (a test's toy kind): `tasks.submit` refuses a
task of such a kind, since the worker would never see it. A published kind that fails to load
is listed by `broken()` with the reason, and `get` says that reason.
"""

from __future__ import annotations

import difflib
from importlib.metadata import entry_points

from .base import LabelFormat, RowReading, TaskKind

GROUP = "deepq_widgets.kinds"

_KINDS: dict[str, TaskKind] = {}
_BROKEN: dict[str, str] = {}  # published kinds that failed to load: name -> why
_LOCAL: set[str] = set()  # kinds registered in this process only
_loaded = False


class UnknownTaskKind(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def _load() -> None:
    """Load the published kinds once per process; one that fails is remembered with its reason."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for point in entry_points(group=GROUP):
        try:
            kind = point.load()
            if not isinstance(kind, TaskKind) or kind.name != point.name:
                raise TypeError(f"{point.value} is not a TaskKind named {point.name!r}")
        except Exception as exc:  # a broken plug-in is its own problem, never the registry's
            _BROKEN[point.name] = f"{point.value} failed to load: {type(exc).__name__}: {exc}"
            continue
        _KINDS.setdefault(kind.name, kind)
    if not _KINDS and not _BROKEN:
        raise RuntimeError(f"no task kinds found in the {GROUP!r} entry points: install deepq_widgets (pip install -e .)")


def register(kind: TaskKind) -> TaskKind:
    """Add (or replace) a kind in this process only; returns it. Publish a kind through the entry point
    instead, so that the worker sees it too."""
    _load()
    _KINDS[kind.name] = kind
    _LOCAL.add(kind.name)
    return kind


def unregister(name: str) -> None:
    _KINDS.pop(name, None)
    _LOCAL.discard(name)


def get(name: str) -> TaskKind:
    """The kind called `name`; a broken one says why it failed to load, an unknown name lists the close ones."""
    _load()
    if name in _KINDS:
        return _KINDS[name]
    if name in _BROKEN:
        raise UnknownTaskKind(f"task kind {name!r} cannot be loaded: {_BROKEN[name]}")
    close = difflib.get_close_matches(str(name), list(_KINDS), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(names())}"
    raise UnknownTaskKind(f"unknown task kind {name!r}{hint}")


def find(name: str) -> TaskKind | None:
    """The kind called `name`, or None (a stored task of a kind this process cannot load)."""
    _load()
    return _KINDS.get(name)


def shown(name: str) -> TaskKind:
    """The kind called `name` for display: a stand-in titled as missing where this process cannot load it,
    so that lists and pages of tasks and models of such a kind still show."""
    return find(name) or TaskKind(name=name, title=f"{name} (kind not installed)", about="", annotations=(), headline=())


def all_kinds() -> list[TaskKind]:
    """Every kind, in the order the task step shows them."""
    _load()
    return sorted(_KINDS.values(), key=lambda k: (k.order, k.name))


def names() -> list[str]:
    return [k.name for k in all_kinds()]


def broken() -> dict[str, str]:
    """Published kinds that failed to load, with why."""
    _load()
    return dict(_BROKEN)


def is_local(name: str) -> bool:
    """Whether `name` was registered in this process only (other processes will not know it)."""
    return name in _LOCAL


def label_formats() -> list[LabelFormat]:
    """The label.csv layouts the kinds add, the one with most columns first."""
    return sorted((f for k in all_kinds() for f in k.label_formats), key=lambda f: -len(f.columns))


__all__ = [
    "GROUP",
    "LabelFormat",
    "RowReading",
    "TaskKind",
    "UnknownTaskKind",
    "all_kinds",
    "broken",
    "find",
    "get",
    "is_local",
    "label_formats",
    "names",
    "register",
    "shown",
    "unregister",
]
