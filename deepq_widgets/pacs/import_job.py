"""An import that runs on its own, beside the dashboard: `deepq pacs import` started in a session of its own, so
that closing the page (or a kernel culled) does not stop it. The page follows it through the import's files in
`pacs/<dataset>/` (its lock, `progress.json`, its log, `import_report.json`), after a reload as well. The
password reaches it in its environment only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..files import lock_held
from ..workspace import WorkspacePaths
from .importer import LOCK, PROGRESS, REPORT, ImportRefused

LOG = "import.log"
STARTING_S = 30.0  # how long a started import may take to take its lock (importing Python, searching the server)


@dataclass(frozen=True)
class ImportState:
    dataset: str
    running: bool
    done: int = 0  # instances fetched (or kept) so far
    total: int = 0
    report: dict[str, Any] | None = None  # the last finished run's report
    error: str | None = None  # why the last run stopped without one


def start_import(workspace: WorkspacePaths, dataset: str, args: list[str], env: dict[str, str] | None = None) -> None:
    """`deepq pacs import ARGS --dataset DATASET` on its own, `env` added to its environment (the password);
    returns once it runs (or has already ended)."""
    own = workspace.pacs / workspace.dataset_dir(dataset).name  # refuses a name that would leave datasets/
    own.mkdir(parents=True, exist_ok=True, mode=0o700)
    if lock_held(own / LOCK):
        raise ImportRefused(f"an import into {dataset!r} is running already")
    for stale in (PROGRESS, REPORT):
        (own / stale).unlink(missing_ok=True)
    command = [sys.executable, "-I", "-m", "deepq_widgets.cli", "pacs", "import", *args, "--dataset", dataset]
    with open(own / LOG, "wb") as log:
        child = subprocess.Popen(
            [*command, "--workspace", str(workspace.root)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # the report is import_report.json
            stderr=log,
            start_new_session=True,  # not the page's: it outlives the kernel
            env={**os.environ, **(env or {})},
            cwd=workspace.root,
        )
    deadline = time.monotonic() + STARTING_S
    while child.poll() is None and not lock_held(own / LOCK) and time.monotonic() < deadline:
        time.sleep(0.1)


def import_state(workspace: WorkspacePaths, dataset: str) -> ImportState:
    """Where the import into `dataset` stands: running (with its progress), finished (its report), or stopped."""
    own = workspace.pacs / dataset
    progress = _json(own / PROGRESS) or {}
    running = (own / LOCK).exists() and lock_held(own / LOCK)
    report = None if running else _json(own / REPORT)
    error = None if running or report else _last_words(own / LOG)
    return ImportState(dataset, running, int(progress.get("done", 0)), int(progress.get("total", 0)), report, error)


def running_imports(workspace: WorkspacePaths) -> list[str]:
    """The datasets an import is running into now (one the page did not start, say, before a reload)."""
    if not workspace.pacs.is_dir():
        return []
    return sorted(p.parent.name for p in workspace.pacs.glob(f"*/{LOCK}") if lock_held(p))


def _json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _last_words(log: Path) -> str | None:
    """What a stopped import said last: its refusal ("refused: ..."), else its last line."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").replace("\r", "\n").splitlines() if line.strip()]
    except OSError:
        return None
    if not lines:
        return None
    said = next((line for line in reversed(lines) if line.startswith("refused:")), lines[-1])
    return said.removeprefix("refused:").strip()
