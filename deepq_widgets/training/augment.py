"""Batch augmentation on tensors: one affine warp per image, plus colour jitter.

Flip, resized crop, translation and rotation compose into a single affine matrix per
image, applied with one `grid_sample` call for the whole batch (on the GPU when there is
one). Masks follow with nearest sampling; boxes follow by mapping their corners.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..spec import Augmentation


def random_affine(aug: Augmentation, n: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 2, 3) matrices mapping output to input coordinates, in affine_grid's [-1, 1] units."""

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=generator)

    angle = uniform(-aug.rotate_deg, aug.rotate_deg) * math.pi / 180
    zoom = uniform(aug.crop_min_scale, 1.0).sqrt() if aug.resized_crop else torch.ones(n)
    flip = torch.where(torch.rand(n, generator=generator) < aug.hflip_p, -1.0, 1.0) if aug.hflip else torch.ones(n)
    shift = aug.translate_pct / 100 * 2
    # A crop of side `zoom` can sit anywhere inside the image; translation moves it further.
    tx = uniform(-1, 1) * (1 - zoom) + uniform(-shift, shift)
    ty = uniform(-1, 1) * (1 - zoom) + uniform(-shift, shift)
    cos, sin = angle.cos() * zoom, angle.sin() * zoom
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = cos * flip, -sin, tx
    theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = sin * flip, cos, ty
    return theta


def warp(images: torch.Tensor, theta: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    grid = F.affine_grid(theta.to(images.device, images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode=mode, padding_mode="zeros", align_corners=False)


def warp_masks(masks: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    return warp(masks[:, None].float(), theta, mode="nearest")[:, 0].round().long()


def warp_boxes(boxes: torch.Tensor, theta: torch.Tensor, size: int, min_side: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Map xyxy boxes (pixels) of one image through the inverse warp; returns kept boxes and their mask."""
    if boxes.numel() == 0:
        return boxes, torch.zeros(0, dtype=torch.bool)
    full = torch.cat([theta, torch.tensor([[0.0, 0.0, 1.0]])], dim=0)
    inverse = torch.linalg.inv(full)[:2]
    x0, y0, x1, y1 = boxes.unbind(1)
    corners = torch.stack([torch.stack([x0, y0], 1), torch.stack([x1, y0], 1), torch.stack([x0, y1], 1), torch.stack([x1, y1], 1)], 1)
    norm = corners / size * 2 - 1  # pixels -> [-1, 1]
    mapped = norm @ inverse[:, :2].T + inverse[:, 2]
    pixels = (mapped + 1) / 2 * size
    out = torch.cat([pixels.min(1).values, pixels.max(1).values], 1).clamp(0, size)
    keep = ((out[:, 2] - out[:, 0]) >= min_side) & ((out[:, 3] - out[:, 1]) >= min_side)
    return out[keep], keep


@dataclass
class Jitter:
    """Colour factors per image, drawn for a whole batch, so that a rank of a data-parallel fit can take
    its share of them and draw the same random numbers as the other ranks (and as one process would)."""

    brightness: torch.Tensor | None = None
    contrast: torch.Tensor | None = None
    saturation: torch.Tensor | None = None
    hue: torch.Tensor | None = None  # angles, radians

    def take(self, keep: slice) -> Jitter:
        return Jitter(*(None if f is None else f[keep] for f in (self.brightness, self.contrast, self.saturation, self.hue)))

    def repeat(self, times: int) -> Jitter:
        """Each image's factors `times` over in a row: one study's slices jittered alike."""
        fields = (self.brightness, self.contrast, self.saturation, self.hue)
        return Jitter(*(None if f is None else f.repeat_interleave(times) for f in fields))


def jitter_factors(aug: Augmentation, n: int, channels: int, generator: torch.Generator) -> Jitter:
    """Brightness and contrast for every image; saturation and hue only where there are 3 channels."""

    def factor(amount: float) -> torch.Tensor:
        return 1 + (torch.rand(n, generator=generator) * 2 - 1) * amount

    jitter = Jitter()
    if aug.brightness:
        jitter.brightness = factor(aug.brightness)
    if aug.contrast:
        jitter.contrast = factor(aug.contrast)
    if channels == 3 and aug.saturation:
        jitter.saturation = factor(aug.saturation)
    if channels == 3 and aug.hue:
        jitter.hue = (torch.rand(n, generator=generator) * 2 - 1) * aug.hue * 2 * math.pi
    return jitter


def colour_jitter(images: torch.Tensor, jitter: Jitter) -> torch.Tensor:
    def per_image(f: torch.Tensor) -> torch.Tensor:
        return f.view(-1, 1, 1, 1).to(images.device)

    if jitter.brightness is not None:
        images = images * per_image(jitter.brightness)
    if jitter.contrast is not None:
        mean = images.mean(dim=(1, 2, 3), keepdim=True)
        images = (images - mean) * per_image(jitter.contrast) + mean
    if jitter.saturation is not None:
        grey = (images * torch.tensor([0.299, 0.587, 0.114], device=images.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
        images = (images - grey) * per_image(jitter.saturation) + grey
    if jitter.hue is not None:
        images = _rotate_hue(images, jitter.hue)
    return images.clamp(0, 1)


def _rotate_hue(images: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Hue rotation in YIQ space: a linear map per image."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], device=images.device)
    from_yiq = torch.linalg.inv(to_yiq)
    cos, sin = angle.cos().to(images.device), angle.sin().to(images.device)
    rot = torch.zeros(len(angle), 3, 3, device=images.device)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    m = from_yiq @ rot @ to_yiq
    return torch.einsum("nij,njhw->nihw", m, images)
