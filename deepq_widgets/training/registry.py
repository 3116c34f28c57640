"""The model registry: `models/<id>/model.safetensors` plus `model.json`, listed in the store.

Loading rebuilds the network from the JSON card and reads the weights with safetensors, so
opening a model never runs code from the file.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from typing import Any

import torch
from safetensors.torch import load_file

from ..store import Store
from ..workspace import Workspace
from .checkpoint import atomic_save_tensors, load_weights, model_state
from .models import build_model

CARD_FIELDS = ("task", "arch", "classes", "image_size", "channels", "windows", "mean", "std", "metrics", "dataset")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "model"


def register_model(workspace: Workspace, store: Store, task_id: int, name: str, model: torch.nn.Module, card: dict[str, Any]) -> str:
    """Write the model folder atomically, then list it in the store; returns the model id."""
    missing = [k for k in CARD_FIELDS if k not in card]
    if missing:
        raise ValueError(f"model card lacks {missing}")
    model_id = f"{_slug(name)}-t{task_id}"
    folder = workspace.models / model_id
    tmp = workspace.models / f".{model_id}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    atomic_save_tensors(model_state(model), tmp / "model.safetensors")
    full = {"id": model_id, "name": name, "source_task": task_id, "created": time.time(), "format": "safetensors+json", **card}
    (tmp / "model.json").write_text(json.dumps(full, indent=2, default=float))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    store.add_model(model_id, name, task_id, full)
    return model_id


def read_card(workspace: Workspace, model_id: str) -> dict[str, Any]:
    folder = workspace.resolve(model_id, base=workspace.models)
    path = folder / "model.json"
    if folder.parent != workspace.models or not path.is_file():
        raise KeyError(f"no registered model {model_id!r} in {workspace.models}")
    return json.loads(path.read_text())


def load_model(workspace: Workspace, model_id: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The network of a registered model with its exact weights, and its card."""
    card = read_card(workspace, model_id)
    model = build_model(card["task"], card["arch"], len(card["classes"]), card["channels"], card["image_size"], "none", workspace)
    load_weights(model, load_file(str(workspace.models / model_id / "model.safetensors")))
    return model, card
