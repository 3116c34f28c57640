"""deepq_widgets: create, run and judge medical-imaging training tasks inside Jupyter.

The top-level names load lazily so that `import deepq_widgets` stays cheap: the wizard
must appear before torch and fastai have finished importing.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Workspace": "deepq_widgets.api",  # datasets(), preview(), spec(), submit() → Task, tasks(), models(), model() → Model
    "spec": "deepq_widgets.api",
    "Task": "deepq_widgets.api",
    "TaskFailed": "deepq_widgets.api",
    "Model": "deepq_widgets.api",
    "TaskSpec": "deepq_widgets.spec",
    "read_image": "deepq_widgets.data.readers",
    "read_frames": "deepq_widgets.data.readers",
    "build_app": "deepq_widgets.app",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'deepq_widgets' has no attribute {name!r}")


class _Package(types.ModuleType):
    """`dq.spec` is the function that builds a task file, and `deepq_widgets.spec` the module that defines one:
    importing the module would set the package's `spec` to it (and `dq.spec(...)` would fail, module not
    callable). The package keeps its lazy names instead; `from deepq_widgets.spec import TaskSpec` reads the
    module as ever (`import deepq_widgets.spec as m` would give the function: import names from it instead)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
