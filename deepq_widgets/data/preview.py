"""Case preview: a page of thumbnails with labels, boxes and mask overlays, as PNG bytes.

Drawn with Pillow rather than matplotlib: a 50-thumbnail page renders in a fraction of a
second, which keeps the dataset step responsive. Patient identifiers are only drawn when
the caller asks for them.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .cases import Case
from .catalog import DatasetInfo
from .masks import case_mask
from .readers import ImageData, ReaderError, read_image
from .slice_pixels import slice_pixels
from .studies import Volume, named_slice, study_files, volumes_at
from .study_layouts import names_study

PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230)]
CAPTION_H = 42
CAPTION_LINES = 3
BACKGROUND = (24, 26, 32)


def page_count(info: DatasetInfo, page_size: int) -> int:
    return max(1, math.ceil(len(info.cases) / max(1, page_size)))


def render_preview(
    info: DatasetInfo,
    page: int = 0,
    page_size: int = 24,
    columns: int = 6,
    thumb: int = 128,
    windows: Sequence[str] | None = None,
    show_identifiers: bool = False,
) -> bytes:
    """PNG bytes of one page of thumbnails (page numbers start at 0)."""
    from PIL import Image, ImageDraw, ImageFont

    page = min(max(page, 0), page_count(info, page_size) - 1)
    cases = info.cases[page * page_size : (page + 1) * page_size]
    columns = max(1, min(columns, len(cases) or 1))
    rows = max(1, math.ceil(len(cases) / columns))
    sheet = Image.new("RGB", (columns * thumb, rows * (thumb + CAPTION_H)), BACKGROUND)
    font = ImageFont.load_default(size=11)
    draw = ImageDraw.Draw(sheet)
    for i, case in enumerate(cases):
        x, y = (i % columns) * thumb, (i // columns) * (thumb + CAPTION_H)
        tile, caption, bad = _tile(case, info, thumb, windows, show_identifiers)
        sheet.paste(tile, (x, y))
        draw.multiline_text((x + 4, y + thumb + 2), caption, fill=(255, 90, 90) if bad else (235, 235, 235), font=font, spacing=1)
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _tile(case: Case, info: DatasetInfo, size: int, windows, show_identifiers: bool):
    from PIL import Image

    if not case.usable:
        return Image.new("RGB", (size, size), (60, 20, 20)), _fit_text(f"✗ {case.problem}", size), True
    try:
        data = read_shown(case.image if case.volume else case.shown, windows=windows)
    except (ReaderError, OSError, ValueError) as exc:
        return Image.new("RGB", (size, size), (60, 20, 20)), _fit_text(f"✗ {exc}", size), True
    rgb = to_rgb8(data.pixels)
    h, w = rgb.shape[:2]
    if info.annotation == "segmentation" or case.mask is not None:
        rgb = _overlay(rgb, case, info)
    scale = size / max(h, w)
    img = Image.fromarray(rgb).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
    tile = Image.new("RGB", (size, size), (0, 0, 0))
    tile.paste(img, ((size - img.width) // 2, (size - img.height) // 2))
    _draw_boxes(tile, case, info, scale, ((size - img.width) // 2, (size - img.height) // 2))
    return tile, _fit_text(case_caption(case, data.meta, show_identifiers), size), False


def read_shown(path: str | Path, slice_index: int | None = None, windows=None) -> ImageData:
    """An image as shown to the user: the file, or a study's slice `slice_index` (its middle one by default);
    'volume.nii.gz#3' (Case.shown) names slice 3 of a volume."""
    named = named_slice(path)
    if named is not None:
        return slice_pixels(named, windows)
    path = Path(path)
    if not names_study(path):
        return read_image(path, windows=windows)
    volume = shown_volume(path)
    index = volume.depth // 2 if slice_index is None else min(max(slice_index, 0), volume.depth - 1)
    return slice_pixels(volume.slices[index], windows)


def shown_volume(path: Path) -> Volume:
    """The study a path names, as the views show it: its first usable volume."""
    volumes, _ = volumes_at(path, study_files(path) if path.is_dir() else [])
    volume = next((v for v in volumes if v.problem is None and v.depth), None)
    if volume is None:
        raise ReaderError(f"{path}: no readable study")
    return volume


def case_caption(case: Case, meta: dict, show_identifiers: bool = False) -> str:
    """Labels and the values a kind read (a measured quantity), plus the patient ID and name only when the user
    asked for identifiers."""
    caption = ", ".join(case.labels) if case.labels else "(no finding)"
    if case.volume is not None:
        caption += f" · {case.volume.depth} slices"
    if case.fields:
        caption += ": " + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in case.fields.values())
    if show_identifiers:
        who = " ".join(str(meta[k]) for k in ("patient_id", "patient_name") if meta.get(k))
        caption += f"\n{who or case.image.name}"
    return caption


def to_rgb8(pixels: np.ndarray) -> np.ndarray:
    arr = (np.clip(pixels, 0, 1) * 255).astype(np.uint8)
    if arr.shape[2] == 1:
        return np.repeat(arr, 3, axis=2)
    return arr[..., :3] if arr.shape[2] >= 3 else np.concatenate([arr, arr[..., :1]], axis=2)


def _overlay(rgb: np.ndarray, case: Case, info: DatasetInfo) -> np.ndarray:
    try:
        mask = case_mask(case, info.classes, rgb.shape[1], rgb.shape[0])
    except OSError:
        return rgb
    if mask is None or mask.shape != rgb.shape[:2]:
        return rgb
    out = rgb.astype(np.float32)
    for value in np.unique(mask):
        if value == 0:
            continue
        sel = mask == value
        out[sel] = 0.55 * out[sel] + 0.45 * np.array(PALETTE[(value - 1) % len(PALETTE)], dtype=np.float32)
    return out.astype(np.uint8)


def _draw_boxes(tile, case: Case, info: DatasetInfo, scale: float, offset: tuple[int, int]) -> None:
    from PIL import ImageDraw

    if not case.boxes:
        return
    draw = ImageDraw.Draw(tile)
    for box in case.boxes:
        color = PALETTE[info.classes.index(box.label) % len(PALETTE)] if box.label in info.classes else (255, 255, 255)
        x0, y0 = offset[0] + box.x * scale, offset[1] + box.y * scale
        draw.rectangle([x0, y0, x0 + box.w * scale, y0 + box.h * scale], outline=color, width=2)


def _fit_text(text: str, width: int) -> str:
    """The caption wrapped to the tile (labels of a multi-label case on as many lines as fit), cut only at the end."""
    chars = max(8, width // 6)
    lines = [part for line in text.splitlines() for part in textwrap.wrap(line, chars, break_on_hyphens=False) or [""]]
    if len(lines) > CAPTION_LINES:
        lines = [*lines[: CAPTION_LINES - 1], lines[CAPTION_LINES - 1][: chars - 1] + "…"]
    return "\n".join(lines)


def slice_png(case: Case, index: int, windows=None, size: int = 320) -> bytes:
    """One slice of a study (`case.volume`), as the dataset step's viewer shows it: grey through the first of the
    task's windows (stacked windows are channels for the network, not colours for a reader), `size` px across."""
    from PIL import Image

    assert case.volume is not None
    rgb = to_rgb8(slice_pixels(case.volume.slices[index], list(windows or [])[:1] or None).pixels)
    image = Image.fromarray(rgb)
    scale = size / max(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def strip_png(case: Case, windows=None, count: int = 8, thumb: int = 96) -> bytes:
    """A study as a strip of `count` slices spread from its first to its last, each captioned with its number, grey
    through the first window."""
    from PIL import Image, ImageDraw

    assert case.volume is not None
    depth = case.volume.depth
    picks = sorted({round(i * (depth - 1) / max(count - 1, 1)) for i in range(min(count, depth))})
    sheet = Image.new("RGB", (len(picks) * (thumb + 4), thumb + 16), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for n, index in enumerate(picks):
        tile = Image.fromarray(to_rgb8(slice_pixels(case.volume.slices[index], list(windows or [])[:1] or None).pixels))
        tile.thumbnail((thumb, thumb))
        sheet.paste(tile, (n * (thumb + 4), 0))
        draw.text((n * (thumb + 4) + 2, thumb + 2), f"{index + 1}/{depth}", fill=(235, 235, 235))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
