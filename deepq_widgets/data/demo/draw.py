"""Small numpy drawing helpers for the synthetic demo images."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter


class Canvas:
    """Coordinate grids for one image size, so shapes are one vectorised expression each."""

    def __init__(self, size: int):
        self.size = size
        self.yy, self.xx = np.mgrid[:size, :size].astype(np.float32)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, angle: float = 0.0) -> np.ndarray:
        c, s = np.cos(angle), np.sin(angle)
        dx, dy = self.xx - cx, self.yy - cy
        u, v = (dx * c + dy * s) / rx, (-dx * s + dy * c) / ry
        return u * u + v * v <= 1.0

    def ring(self, cx: float, cy: float, rx: float, ry: float, thickness: float) -> np.ndarray:
        return self.ellipse(cx, cy, rx, ry) & ~self.ellipse(cx, cy, rx - thickness, ry - thickness)

    def polar(self, cx: float, cy: float) -> tuple[np.ndarray, np.ndarray]:
        """Angle and radius of every pixel around a centre."""
        dx, dy = self.xx - cx, self.yy - cy
        return np.arctan2(dy, dx), np.hypot(dx, dy)

    def line(self, x0: float, y0: float, x1: float, y1: float, width: float) -> np.ndarray:
        px, py = self.xx - x0, self.yy - y0
        dx, dy = x1 - x0, y1 - y0
        t = np.clip((px * dx + py * dy) / max(dx * dx + dy * dy, 1e-6), 0, 1)
        return np.hypot(px - t * dx, py - t * dy) <= width / 2


def noise(rng: np.random.Generator, size: int, sigma: float, blur: float = 0.0) -> np.ndarray:
    field = rng.normal(0.0, 1.0, (size, size)).astype(np.float32)
    if blur:
        field = gaussian_filter(field, blur)
        field /= field.std() + 1e-6
    return field * sigma


def smooth(img: np.ndarray, sigma: float) -> np.ndarray:
    return gaussian_filter(img, sigma)


def branches(canvas: Canvas, rng: np.random.Generator, region: np.ndarray, count: int, width: float, steps: int = 10) -> np.ndarray:
    """Random-walk branching lines inside a region: vessels, lung markings."""
    from PIL import Image, ImageDraw

    ys, xs = np.nonzero(region)
    if len(xs) == 0:
        return np.zeros_like(region)
    sheet = Image.new("L", (canvas.size, canvas.size), 0)
    draw = ImageDraw.Draw(sheet)
    for _ in range(count):
        i = rng.integers(len(xs))
        points = [(float(xs[i]), float(ys[i]))]
        heading = rng.uniform(0, 2 * np.pi)
        for _ in range(steps):
            heading += rng.normal(0, 0.35)
            x, y = points[-1]
            points.append((x + 3.0 * np.cos(heading), y + 3.0 * np.sin(heading)))
        draw.line(points, fill=255, width=max(1, round(width)))
    return (np.asarray(sheet) > 0) & region
