"""Auto select: a network, image size, batch size and learning rate for a task, with the reason.

The policy is data (zoo/recommend.yaml); the task kind says which networks can serve it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from .. import kinds
from ..devices import has_gpu
from ..resources import data_dir
from ..spec import Modality
from ..workspace import WorkspacePaths
from .catalog import get
from .weights import is_offline, weight_source


@dataclass(frozen=True)
class Recommendation:
    model: str
    image_size: int
    batch_size: int
    lr: float
    reason: str


@cache
def _policy() -> dict[str, Any]:
    return yaml.safe_load((data_dir("zoo") / "recommend.yaml").read_text())


def recommend(task: str, modality: Modality | str, size: int, workspace: WorkspacePaths | None = None) -> Recommendation:
    """Network, image size, batch size and learning rate for Auto select, with the reason.

    The ladder in zoo/recommend.yaml is sorted by parameters, so a larger size preference
    never gives a smaller network. Offline, only rungs whose weights are here are used.
    """
    kind, modality, size = kinds.get(task), Modality(modality), min(max(int(size), 1), 5)
    policy = _policy()
    ladder = [get(n) for n in policy["ladder"] if kind.fits_network(get(n))]
    ladder.sort(key=lambda e: e.params_m)
    offline = is_offline()
    available = [e for e in ladder if weight_source(e.name, workspace) is not None]
    pool, note = ladder, ""
    if available and (offline or len(available) == len(ladder)):
        pool = available
        if offline and len(available) < len(ladder):
            note = f" The machine is offline, so only networks whose weights are here were considered ({len(available)} of {len(ladder)})."
    elif offline:
        note = " The machine is offline and no recommended network has its weights here; the first run will fail until they are added."
    pick = pool[round((size - 1) / 4 * (len(pool) - 1))]
    mod = policy["modality"][modality.value]
    image_size = int(mod["image_size"])
    cpu_note = ""
    if not has_gpu() and image_size > policy["cpu_image_size"]:
        image_size = int(policy["cpu_image_size"])
        cpu_note = f" There is no GPU here, so images are trained at {image_size} px at most, to keep a run within minutes."
    batch = int(policy["batch_size"]["small"] if pick.params_m < 15 else policy["batch_size"]["large"])
    words = {1: "the smallest", 2: "a small", 3: "a mid-sized", 4: "a large", 5: "the largest"}[size]
    reason = (
        f"{pick.name} ({pick.family}, {pick.params_m:.1f} M parameters, {pick.gflops:.2f} GFLOPs at {pick.input_size} px"
        + (f", {pick.top1:.1f}% ImageNet top-1" if pick.top1 else "")
        + f", pretrained on {pick.pretrain}) is {words} network among those we recommend for {kind.title.lower()} tasks. "
        + f"{mod['why']} Training uses a one-cycle schedule with a short learning-rate search around {policy['lr']:g}, "
        + "full fine-tuning of all layers, and early stopping on validation loss."
        + cpu_note
        + note
    )
    return Recommendation(model=pick.name, image_size=image_size, batch_size=batch, lr=float(policy["lr"]), reason=reason)
