"""The model registry: `models/<id>/model.safetensors` plus `model.json` (a ModelCard), listed in the store.

Loading rebuilds the network from the card through its task kind and reads the weights with
safetensors, so opening a model never runs code from the file.
"""

from __future__ import annotations

import re
import shutil
import time
from typing import Protocol

import torch
from safetensors.torch import load_file

from .. import kinds
from ..calibration import tempered_threshold
from ..contracts import ModelCard, TrainingManifest
from ..evaluations import MANIFEST, read_card
from ..files import atomic_write_text
from ..workspace import WorkspacePaths
from .checkpoint import atomic_save_tensors, load_weights, model_state
from .ensemble import Ensemble
from .temperature import Tempered


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "model"


def model_id_for(name: str, task_id: int) -> str:
    return f"{_slug(name)}-t{task_id}"


class RegisteredModels(Protocol):
    def add_model(self, card: ModelCard) -> None: ...


def register_model(
    workspace: WorkspacePaths, listing: RegisteredModels, model: torch.nn.Module, card: ModelCard, manifest: TrainingManifest | None = None
) -> ModelCard:
    """Write the model folder atomically, then list it (in the store, or through a run's sink); returns the card."""
    card = card.model_copy(update={"created": time.time()})
    folder = workspace.model_dir(card.id)
    tmp = folder.with_name(f".{card.id}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    atomic_save_tensors(model_state(model), tmp / "model.safetensors")
    atomic_write_text(card.model_dump_json(by_alias=True, indent=2), tmp / "model.json")
    if manifest is not None:
        atomic_write_text(manifest.model_dump_json(), tmp / MANIFEST)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    listing.add_model(card)
    return card


def build_network(card: ModelCard, workspace: WorkspacePaths | None = None) -> torch.nn.Module:
    """The card's network, untrained: the task kind builds it as it did for training (each member of an ensemble)."""
    trainer = kinds.get(card.task).trainer
    networks = [
        trainer.build_model(card.arch, len(card.classes), card.channels, card.image_size, "none", workspace) for _ in range(card.members)
    ]
    return Ensemble(networks, trainer.ensemble_activation) if card.members > 1 else networks[0]


def load_model(workspace: WorkspacePaths, model_id: str, calibrated: bool = True) -> tuple[torch.nn.Module, ModelCard]:
    """The network of a registered model with its exact weights, and its card: with its temperature (the card's
    thresholds are on those probabilities), or with `calibrated=False` the network's own probabilities and the
    card's thresholds moved back onto them."""
    card = read_card(workspace, model_id)
    model = build_network(card, workspace)
    load_weights(model, load_file(str(workspace.model_dir(model_id) / "model.safetensors")))
    if card.temperature is None:
        return model, card
    if calibrated:
        return Tempered(model, card.temperature), card
    raw = [tempered_threshold(t, 1 / card.temperature) for t in card.thresholds] if card.thresholds else None
    return model, card.model_copy(update={"thresholds": raw, "temperature": None})
