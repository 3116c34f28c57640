"""The world as the wizard sees it, and what a flow may read of the wizard: apart from both, so that
the wizard (wizard.py) and its flows (flows.py) need not import each other."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .contracts import ModelCard
from .data.catalog import DatasetInfo
from .duration import Throughput
from .presets import Preset
from .spec import Modality, TaskSpec
from .zoo.select import Recommendation
from .zoo.shelf import ZooShelf


@dataclass
class WizardContext:
    """The world as the wizard sees it; each field is cheap to call repeatedly."""

    datasets: Callable[[], dict[str, DatasetInfo]] = dict
    one_dataset: Callable[[str], DatasetInfo | None] | None = None  # one dataset alone, without scanning the rest
    presets: dict[str, Preset] = field(default_factory=dict)
    base_models: Callable[[], dict[str, ModelCard]] = dict
    known_arch: Callable[[str], bool] = lambda arch: True
    taken_names: Callable[[], set[str]] = set
    recommend: Callable[[str, Modality, int], Recommendation] | None = None
    zoo: ZooShelf = field(default_factory=ZooShelf)
    throughput: Callable[[str], Throughput | None] = lambda key: None  # this machine's speed as known, by throughput_key

    def dataset(self, name: str | None) -> DatasetInfo | None:
        """The dataset of that name, or None."""
        if not name:
            return None
        return self.one_dataset(name) if self.one_dataset else self.datasets().get(name)


class Drafting(Protocol):
    """What a flow reads of the wizard (`wizard.Wizard` is one): the draft, the world, and two answers."""

    context: WizardContext

    @property
    def draft(self) -> TaskSpec: ...

    def task_type(self) -> str | None: ...

    def recommendation(self) -> Recommendation | None: ...
