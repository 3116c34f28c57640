"""The zoo as one workspace sees it: which entries fit a task, and which have weights here.

The wizard's context carries a shelf, so the zoo browser asks the context like every other
view and a test can hand it a shelf of its own.
"""

from __future__ import annotations

from .. import kinds
from ..workspace import WorkspacePaths
from .catalog import UnknownModel, ZooEntry, get, query
from .weights import offline_entries, pretrain_sources, weight_source


class ZooShelf:
    def __init__(self, workspace: WorkspacePaths | None = None):
        self.workspace = workspace

    def entries(self, task: str | None = None, text: str = "", offline_only: bool = False) -> list[ZooEntry]:
        """Entries whose network fits `task`, whose name, family or pretraining contain every word of `text`."""
        found = query(fits=kinds.get(task).fits_network if task else None, text=text)
        return offline_entries(found, self.workspace) if offline_only else found

    def entry(self, name: str | None) -> ZooEntry | None:
        if not name:
            return None
        try:
            return get(name)
        except UnknownModel:
            return None

    def has_weights(self, name: str) -> bool:
        """Whether the pretrained weights are on this machine now."""
        return weight_source(name, self.workspace) is not None

    def pretraining(self, name: str) -> dict[str, str]:
        """id -> title of every pretraining usable for `name`, its own first and 'none' last."""
        return pretrain_sources(name, self.workspace)
