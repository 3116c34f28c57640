"""deepq_widgets: create, run and judge medical-imaging training tasks inside Jupyter.

The top-level names load lazily so that `import deepq_widgets` stays cheap: the wizard
must appear before torch and fastai have finished importing.
"""

from __future__ import annotations

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
