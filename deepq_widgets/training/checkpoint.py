"""Checkpoints as safetensors plus JSON: model weights, optimizer state and progress.

Nothing here pickles. Optimizer state is flattened to named tensors; the numbers that are
not tensors (step counts, hyperparameters) go to the JSON next to it. Every write lands in
a temporary file first and is renamed into place, so a kill or a full disk mid-write leaves
the previous checkpoint intact.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file


def atomic_save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _plain(value: Any) -> Any:
    """JSON for the odd types training produces: numpy scalars, tensors, fastai's L."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return list(value)


def atomic_write_json(data: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, default=_plain))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load exactly: every tensor must fit, and only aliases of saved tensors may be absent."""
    result = model.load_state_dict(state, strict=False)
    saved_names = set(model_state(model))
    missing = [k for k in result.missing_keys if k in saved_names]
    if missing or result.unexpected_keys:
        raise ValueError(f"weights do not fit the network: missing {missing[:3]}, unexpected {result.unexpected_keys[:3]}")


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 of the weight values (layout-independent): proves which weights a run started from."""
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Weights with shared tensors de-duplicated (safetensors refuses aliases)."""
    out, seen = {}, {}
    for name, tensor in model.state_dict().items():
        key = (tensor.data_ptr(), tuple(tensor.shape)) if tensor.numel() else None
        if key in seen:
            continue
        if key:
            seen[key] = name
        out[name] = tensor.detach().clone()
    return out


def save_checkpoint(folder: Path, model: torch.nn.Module, opt: Any, info: dict[str, Any]) -> None:
    """Write last.safetensors (weights), optim.safetensors and checkpoint.json, each atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors, plain = _flatten_optimizer(opt.state_dict() if opt is not None else {"state": [], "hypers": []})
    atomic_save_tensors(model_state(model), folder / "last.safetensors")
    atomic_save_tensors(tensors or {"_empty": torch.zeros(1)}, folder / "optim.safetensors")
    atomic_write_json({**info, "optimizer": plain}, folder / "checkpoint.json")


def load_checkpoint(folder: Path, model: torch.nn.Module, opt: Any) -> dict[str, Any]:
    """Restore weights (and optimizer state when `opt` is given); returns checkpoint.json."""
    info = json.loads((folder / "checkpoint.json").read_text())
    load_weights(model, load_file(str(folder / "last.safetensors")))
    if opt is not None and info["optimizer"]["state"]:
        opt.load_state_dict(_unflatten_optimizer(load_file(str(folder / "optim.safetensors")), info["optimizer"]))
    return info


def has_checkpoint(folder: Path) -> bool:
    return (folder / "checkpoint.json").is_file() and (folder / "last.safetensors").is_file()


def _flatten_optimizer(sd: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, state = {}, []
    for i, entry in enumerate(sd["state"]):
        plain = {}
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{i}.{key}"] = value
            else:
                plain[key] = value
        state.append(plain)
    return tensors, {"state": state, "hypers": sd["hypers"]}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], plain: dict[str, Any]) -> dict[str, Any]:
    state = [dict(entry) for entry in plain["state"]]
    for name, value in tensors.items():
        if name == "_empty":
            continue
        i, key = name.split(".", 1)
        state[int(i)][key] = value
    return {"state": state, "hypers": plain["hypers"]}
