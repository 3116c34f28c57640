"""The run's types: what every stage shares (`Run`), what each stage makes (`Prepared`, `Built`, `Fitted`) and
the two ways a run ends early. Apart from the stages (stages.py, planning.py, conclude.py) and their order
(pipeline.py), so that each may import them without importing the others."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from fastai.learner import Learner

from .. import kinds
from ..contracts import ModelCard, Plan
from ..data.cache import CachedData
from ..data.splits import Folds, Split
from ..kinds.base import TaskKind
from ..presets import Preset
from ..spec import TaskSpec
from ..store import TaskRow
from ..workspace import WorkspacePaths
from .loaders import best_device
from .sink import TaskSink


class TaskCannotRun(RuntimeError):
    """A task that cannot run; the message is what the user sees."""


class TaskStopped(Exception):
    """The user stopped the task (during the search or the fit)."""


@dataclass
class Run:
    workspace: WorkspacePaths
    task: TaskRow
    sink: TaskSink  # the run's only way to the store
    spec: TaskSpec
    kind: TaskKind
    folder: Path
    device: torch.device
    rank: int = 0  # a data-parallel fit's other ranks (rank.py) train and report nothing

    @classmethod
    def start(cls, workspace: WorkspacePaths, sink: TaskSink, task: TaskRow, rank: int = 0) -> Run:
        spec = task.spec
        seed_everything(spec.seed)
        device = best_device()
        if rank and device.type == "cuda":
            device = torch.device("cuda", rank)
            torch.cuda.set_device(device)
        return cls(workspace, task, sink, spec, kinds.get(spec.task), workspace.task_dir(task.id), device, rank)


@dataclass
class Prepared:
    """The decoded cases, their split, the network they train and the plan: what the later stages need."""

    plan: Plan  # the policy's plan, or the one a resumed run trained with
    resumed: bool
    data: CachedData
    split: Split
    preset: Preset | None
    base: ModelCard | None
    arch: str
    mean: list[float]
    std: list[float]
    folds: Folds | None = None  # a k-fold ensemble's parts; `split` is its first (the validated fit's)


@dataclass
class Built:
    learn: Learner
    plan: Plan
    start_epoch: int = 0
    best_loss: float = float("inf")
    compute_s: float = 0.0
    dataset: str = ""  # the fingerprint of the cases it trains on, kept with each checkpoint


@dataclass
class Fitted:
    best_state: dict[str, torch.Tensor] | None  # None when no epoch ran in this process (resumed at the end)
    compute_s: float


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
