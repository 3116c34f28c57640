"""Checkpoints as safetensors plus JSON: model weights, optimizer state and progress.

Nothing here pickles. Optimizer state is flattened to named tensors; the numbers that are
not tensors (step counts, hyperparameters) go to the JSON next to it. A checkpoint is one
set, a folder (last weights, best weights, optimizer, checkpoint.json): it is written whole
in a temporary folder, every file fsynced, then swapped in by renames, so a kill or a full
disk at any moment leaves the previous set or the new one, never a mix of the two.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ..contracts import CheckpointInfo
from ..files import fsync_file, fsync_folder
from ..liveness import STALE_S

BEST = "best.safetensors"


def save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """safetensors of CPU copies (it needs contiguous tensors, and the originals may be on a GPU); a full disk
    is said as such, not as safetensors' "Error while serializing: IoError(...)"."""
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path))
    except Exception as exc:
        if "StorageFull" in str(exc) or "No space left" in str(exc):
            free = shutil.disk_usage(path.parent).free / 2**20
            said = f"the disk is full ({free:,.0f} MiB free in {path.parent}): the weights could not be written"
            raise OSError(errno.ENOSPC, said) from exc
        raise


def complete_tensors(path: Path) -> bool:
    """Whether `path` holds a whole safetensors file (a crash can leave a file of zero length, or a cut one)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            return bool(list(f.keys()))
    except Exception:  # not there, empty, or cut short: not trained
        return False


def atomic_save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Written beside, flushed to the disk, then renamed into place: a reader (or a resumed run after a crash)
    finds the old file or the whole new one, never a file of zero length."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_tensors(tensors, tmp)
        fsync_file(tmp)
        tmp.replace(path)
        fsync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _plain(value: Any) -> Any:
    """JSON for the odd types training produces: numpy scalars, tensors, fastai's L."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return list(value)


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


def snapshot(
    model: torch.nn.Module, opt: Any, weights: dict[str, torch.Tensor] | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, Any]]:
    """Copies of the weights (or `weights`, a copy taken already) and optimizer state, safe to write while training goes on."""
    tensors, plain = _flatten_optimizer(opt.state_dict() if opt is not None else {"state": [], "hypers": []})
    return weights if weights is not None else model_state(model), {k: v.detach().clone() for k, v in tensors.items()}, plain


def save_checkpoint(
    folder: Path,
    weights: dict[str, torch.Tensor],
    optim: dict[str, torch.Tensor],
    plain: dict[str, Any],
    info: CheckpointInfo,
    best: dict[str, torch.Tensor] | None = None,
) -> None:
    """Replace the set in `folder` by last.safetensors (weights), optim.safetensors, best.safetensors
    (`best`, else the previous set's best, linked) and checkpoint.json, as one."""
    previous = complete_set(folder)
    for stale in folder.parent.glob(f".{folder.name}.*.tmp"):  # left by a process killed mid-write: only an old one, since
        if time.time() - stale.stat().st_mtime > STALE_S:  # a second run of the task (another host's) may be writing it now
            shutil.rmtree(stale, ignore_errors=True)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    tmp.mkdir(parents=True)
    try:
        save_tensors(weights, tmp / "last.safetensors")
        save_tensors(optim or {"_empty": torch.zeros(1)}, tmp / "optim.safetensors")
        if best is not None:
            save_tensors(best, tmp / BEST)
        elif previous is not None and (previous / BEST).is_file():
            os.link(previous / BEST, tmp / BEST)  # unchanged since the last set: shared, not copied
        (tmp / "checkpoint.json").write_text(json.dumps(info.model_dump() | {"optimizer": plain}, indent=2, default=_plain))
        for path in tmp.iterdir():
            fsync_file(path)
        fsync_folder(tmp)
        _swap_in(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def complete_set(folder: Path) -> Path | None:
    """The checkpoint set at `folder`, or the one a kill between the two renames of a swap left aside."""
    for candidate in (folder, _aside(folder)):
        if (candidate / "checkpoint.json").is_file():
            return candidate
    return None


def _swap_in(new: Path, folder: Path) -> None:
    aside = _aside(folder)
    shutil.rmtree(aside, ignore_errors=True)
    if folder.exists():
        folder.rename(aside)
    new.rename(folder)
    fsync_folder(folder.parent)
    shutil.rmtree(aside, ignore_errors=True)


def _aside(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}.previous")


class BackgroundWriter:
    """Writes checkpoints on a thread so that training does not wait for the disk.

    One write is in flight at a time; `flush()` waits for it and re-raises its error, so a
    full disk surfaces in the task's error instead of vanishing.
    """

    def __init__(self) -> None:
        self._pending: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, job: Callable[[], None]) -> None:
        self.flush()

        def run() -> None:
            try:
                job()
            except BaseException as exc:  # handed to the training thread by flush()
                self._error = exc

        self._pending = threading.Thread(target=run, name="deepq-checkpoint", daemon=True)
        self._pending.start()

    def flush(self) -> None:
        if self._pending is not None:
            self._pending.join()
            self._pending = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def read_info(folder: Path) -> CheckpointInfo:
    """checkpoint.json of the set at `folder` (a best loss of infinity is written as JSON's Infinity)."""
    return CheckpointInfo.model_validate(json.loads((folder / "checkpoint.json").read_text()))


def load_checkpoint(folder: Path, model: torch.nn.Module, opt: Any) -> CheckpointInfo:
    """Restore weights (and optimizer state when `opt` is given); returns checkpoint.json."""
    found = complete_set(folder)
    if found is None:
        raise FileNotFoundError(f"no complete checkpoint in {folder}")
    info = read_info(found)
    load_weights(model, load_file(str(found / "last.safetensors")))
    if opt is not None and info.optimizer.get("state"):
        opt.load_state_dict(_unflatten_optimizer(load_file(str(found / "optim.safetensors")), info.optimizer))
    return info


def has_checkpoint(folder: Path) -> bool:
    return complete_set(folder) is not None


def best_weights(folder: Path) -> dict[str, torch.Tensor] | None:
    """The best epoch's weights kept in the checkpoint set, if any."""
    found = complete_set(folder)
    return load_file(str(found / BEST)) if found is not None and (found / BEST).is_file() else None


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
