"""deepq_widgets: create, run and judge medical-imaging training tasks inside Jupyter.

The top-level names load lazily so that `import deepq_widgets` stays cheap: the wizard
must appear before torch and fastai have finished importing.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "TaskSpec": "deepq_widgets.spec",
    "Workspace": "deepq_widgets.workspace",
    "read_image": "deepq_widgets.data.readers",
    "read_frames": "deepq_widgets.data.readers",
    "scan_dataset": "deepq_widgets.data.catalog",
    "build_app": "deepq_widgets.app",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'deepq_widgets' has no attribute {name!r}")
