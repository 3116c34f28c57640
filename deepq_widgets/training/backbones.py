"""timm networks from the zoo with their pretrained weights: the body every task kind builds on."""

from __future__ import annotations

from typing import Any

import timm
import torch
from timm.models import adapt_input_conv

from ..workspace import WorkspacePaths
from ..zoo import WeightsUnavailable, get, load_pretrained_state


def create_model(
    name: str,
    num_classes: int,
    in_chans: int = 3,
    pretrain: str = "default",
    workspace: WorkspacePaths | None = None,
    **kwargs: Any,
):
    """A timm model with pretrained weights (unless pretrain='none'), head sized for `num_classes`.

    Single-channel inputs reuse the RGB stem through timm's `adapt_input_conv`.
    """
    entry = get(name)
    model = timm.create_model(entry.arch, pretrained=False, num_classes=num_classes, in_chans=in_chans, **kwargs)
    if pretrain == "none":
        return model
    cfg = timm.models.get_pretrained_cfg(entry.name).to_dict()
    stem = f"{cfg['first_conv']}.weight"
    state = backbone_of(load_pretrained_state(entry.name, workspace, pretrain), stem, name)
    if stem in state and state[stem].shape[1] != in_chans:
        state[stem] = stem_for(state[stem], in_chans)
    own = model.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    missing = [k for k in own if k not in fitting and not k.endswith("num_batches_tracked")]
    head = cfg.get("classifier") or ""
    heads = (head,) if isinstance(head, str) else tuple(head)
    unexpected = [k for k in missing if not any(k.startswith(h) for h in heads if h)]
    if unexpected and not kwargs.get("features_only"):
        raise WeightsUnavailable(f"pretrained weights for {name} miss {len(unexpected)} tensors, e.g. {unexpected[:3]}")
    model.load_state_dict(fitting, strict=False)
    if missing and not kwargs.get("features_only"):  # the head is new: it did not come with the weights
        _small_head(model)
    return model


def backbone_of(state: dict[str, torch.Tensor], stem: str, name: str) -> dict[str, torch.Tensor]:
    """The timm network's weights in `state`: as they are (ImageNet's, a registered source's), or those under the prefix
    at which a registered model of any kind holds them (a segmentation or study model's `encoder.`, an ensemble's
    first member), its heads, decoders and pooling left out."""
    if stem in state:
        return state
    prefix = next((key.removesuffix(stem) for key in state if key.endswith("." + stem)), None)
    if prefix is None:
        raise WeightsUnavailable(f"those weights hold no {name} backbone (no {stem} in them)")
    return {key.removeprefix(prefix): value for key, value in state.items() if key.startswith(prefix)}


def stem_for(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """The first convolution for `in_chans` input channels: timm's adaptation from RGB, else (a grey-scale model's
    stem, say) its channels summed and spread evenly over the new ones: a grey image repeated over them gives the same."""
    if weight.shape[1] == 3:
        return adapt_input_conv(in_chans, weight)
    return weight.sum(1, keepdim=True).repeat(1, in_chans, 1, 1) / in_chans


def _small_head(model: Any) -> None:
    """A new classifier starts near zero: timm's default init gives logits large enough to
    swamp the first epochs of a small-data fine-tune."""
    head = model.get_classifier()
    if isinstance(head, torch.nn.Linear):
        torch.nn.init.trunc_normal_(head.weight, std=0.01)
        torch.nn.init.zeros_(head.bias)
