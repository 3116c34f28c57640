"""Build the wizard's view of a workspace: datasets, presets, registry, zoo, task names.

Shared by the app and the `deepq spec` command so both refuse exactly the same things.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from .contracts import ModelCard
from .data.catalog import DatasetInfo, scan_or_report
from .duration import likely_throughput
from .presets import load_presets
from .wizard_context import WizardContext
from .workspace import WorkspacePaths
from .zoo.shelf import ZooShelf


class CatalogCache:
    """Scans each dataset once and again only when its folder or top-level files change.

    `warm()` scans in a background thread so the first display never waits; `ready` says
    when that first scan is done. Calls are serialised by a lock.
    """

    def __init__(self, workspace: WorkspacePaths):
        self.workspace = workspace
        self._entries: dict[str, tuple[tuple[int, ...], DatasetInfo]] = {}
        self._lock = threading.Lock()
        self.ready = threading.Event()

    def warm(self, then: Callable[[], None] | None = None) -> threading.Thread:
        def run() -> None:
            self()
            if then is not None:
                then()

        thread = threading.Thread(target=run, name="deepq-catalog", daemon=True)
        thread.start()
        return thread

    def __call__(self) -> dict[str, DatasetInfo]:
        try:
            with self._lock:
                return self._scan()
        finally:
            self.ready.set()  # never "Scanning…" for ever

    def one(self, name: str) -> DatasetInfo | None:
        """One dataset alone (None when the workspace has none of that name): validating a task file needs only
        its own dataset, and a workspace may hold others of a million slices."""
        if name not in self.workspace.dataset_names():
            return None
        with self._lock:
            return self._entry(name)

    def _scan(self) -> dict[str, DatasetInfo]:
        names = self.workspace.dataset_names()
        for stale in set(self._entries) - set(names):
            del self._entries[stale]
        return {name: self._entry(name) for name in names}

    def _entry(self, name: str) -> DatasetInfo:
        signature = _signature(self.workspace.datasets / name)
        cached = self._entries.get(name)
        if cached is None or cached[0] != signature:
            self._entries[name] = cached = (signature, scan_or_report(self.workspace, name))
        return cached[1]


def _signature(folder: Path) -> tuple[int, ...]:
    """Modification times of the folder and what it holds (links themselves, not their targets)."""
    try:
        stamps = [folder.stat(follow_symlinks=False).st_mtime_ns]
        with os.scandir(folder) as entries:
            stamps += sorted(e.stat(follow_symlinks=False).st_mtime_ns for e in entries)
    except OSError:
        return ()
    return tuple(stamps)


def workspace_context(workspace: WorkspacePaths, catalog: CatalogCache | None = None) -> WizardContext:
    """A WizardContext reading this workspace; each call sees the current files and store."""
    from . import zoo
    from .store import Store

    store = Store(workspace.db_path)

    def base_models() -> dict[str, ModelCard]:
        return {card.id: card for card in store.models() if card.retrainable}

    catalog = catalog or CatalogCache(workspace)
    return WizardContext(
        datasets=catalog,
        one_dataset=catalog.one,
        presets=load_presets(),
        base_models=base_models,
        known_arch=zoo.is_known,
        taken_names=store.task_names,
        recommend=lambda task, modality, size: zoo.recommend(task, modality, size, workspace=workspace),
        zoo=ZooShelf(workspace),
        throughput=lambda key: likely_throughput(workspace, key),
    )
