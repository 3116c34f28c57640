"""A registered model with its temperature: the network's logits divided by T (calibration.py), in predict,
evaluation and export alike, since each of them runs the module `registry.load_model` returns."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn


class Tempered(nn.Module):
    """`network` with its logits divided by `temperature`. Everything else (its features for Grad-CAM, a study
    network's slice inputs) is the network's own: attributes it lacks are looked up on the network."""

    def __init__(self, network: nn.Module, temperature: float):
        super().__init__()
        self.network = network
        self.register_buffer("temperature", torch.tensor(float(temperature)), persistent=False)

    def forward(self, x: torch.Tensor) -> Any:
        return self._cooled(self.network(x))

    def explain(self, x: torch.Tensor) -> Any:
        """A study network's explained output (its study logits, per-slice votes and pooling weights)."""
        return self._cooled(self.network.explain(x))

    def _cooled(self, output: Any) -> Any:
        if isinstance(output, torch.Tensor):
            return output / self.temperature
        if dataclasses.is_dataclass(output) and hasattr(output, "logits"):
            return dataclasses.replace(output, logits=output.logits / self.temperature)
        return output

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("network"), name)


def untempered(model: nn.Module) -> nn.Module:
    """The network inside a `Tempered` model (the model itself otherwise)."""
    return model.network if isinstance(model, Tempered) else model
