"""A k-fold ensemble as one network: its members' probabilities averaged, returned as the logits of that
average, so that everything downstream (the accumulator's softmax or sigmoid, predict, evaluate,
TorchScript and ONNX export) treats it as any other classifier. Stored as one safetensors file whose
keys are `members.<i>.<the member's own keys>`; `registry.build_network` rebuilds it from the card.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .temperature import untempered

ACTIVATIONS = ("softmax", "sigmoid")  # one class of k (single-label), or one probability per finding (multi-label)
EPS = 1e-7


class Ensemble(nn.Module):
    def __init__(self, members: Sequence[nn.Module], activation: str):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"an ensemble averages {' or '.join(ACTIVATIONS)} outputs, not {activation!r}")
        self.members = nn.ModuleList(members)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return average_as_logits([member(x) for member in self.members], self.activation)


def average_as_logits(outputs: Sequence[torch.Tensor], activation: str) -> torch.Tensor:
    """Logits whose softmax (sigmoid) is the mean of the outputs' softmax (sigmoid): the average of
    probabilities, not of logits, so that one over-confident member cannot outvote the others."""
    if activation == "softmax":
        return torch.stack([o.float().softmax(1) for o in outputs]).mean(0).clamp_min(EPS).log()
    return torch.logit(torch.stack([o.float().sigmoid() for o in outputs]).mean(0), eps=EPS)


def members_of(model: nn.Module) -> list[nn.Module]:
    """The networks whose outputs a model averages: an ensemble's members, or the model itself."""
    model = untempered(model)
    return list(model.members) if isinstance(model, Ensemble) else [model]
