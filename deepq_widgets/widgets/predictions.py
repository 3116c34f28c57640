"""What a model says about a dataset, page by page: each image with what the model sees in it
(the Grad-CAM heatmap of classification, the boxes of detection, the mask of segmentation), the
top class, its score and the decision at the operating point; every row as a CSV download.

The rows come from `deepq predict --json` (a child process: the dashboard kernel never imports
torch); thumbnails are drawn only for the page shown.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import ipywidgets as w
import numpy as np

from ..contracts import Prediction
from ..data.preview import read_shown, to_rgb8
from ..data.readers import ReaderError
from ..report import png_uri
from ..workspace import WorkspacePaths
from .style import download_link, esc

PAGE = 12
THUMB = 112
OVERLAY = (255, 64, 32)  # warm red: heatmaps, masks and boxes read on grey-scale images


class PredictionsView:
    def __init__(self, workspace: WorkspacePaths):
        self.workspace = workspace
        self.rows: list[Prediction] = []
        self.image_size = 0
        self.page = 0
        self.grid = w.HTML()
        self.where = w.HTML()
        self.download = w.HTML()
        self.previous = w.Button(description="◀ Previous", layout=w.Layout(width="110px"))
        self.next = w.Button(description="Next ▶", layout=w.Layout(width="110px"))
        self.previous.on_click(lambda _: self.turn(-1))
        self.next.on_click(lambda _: self.turn(+1))
        self.widget = w.VBox([w.HBox([self.previous, self.where, self.next, self.download]), self.grid], layout=w.Layout(display="none"))

    def clear(self) -> None:
        """Nothing shown (another model was selected)."""
        self.rows, self.widget.layout.display = [], "none"
        self.grid.value = self.where.value = self.download.value = ""

    def show(self, rows: list[Prediction], image_size: int, name: str) -> None:
        """All `rows` of one prediction run; the first page is drawn, the CSV holds every row."""
        self.rows, self.image_size, self.page = rows, image_size, 0
        self.widget.layout.display = None
        csv_text = predictions_csv(rows, self.workspace.datasets)
        self.download.value = download_link(f"{name}.csv", csv_text.encode(), "text/csv", "predictions (CSV)")
        self.render()

    def pages(self) -> int:
        return max(1, math.ceil(len(self.rows) / PAGE))

    def turn(self, step: int) -> None:
        self.page = min(max(self.page + step, 0), self.pages() - 1)
        self.render()

    def render(self) -> None:
        first = self.page * PAGE
        shown = self.rows[first : first + PAGE]
        self.where.value = f"<div class='dq-muted' style='padding:6px 10px'>{first + 1}–{first + len(shown)} of {len(self.rows)}</div>"
        if not self.rows:
            self.where.value = "<div class='dq-muted' style='padding:6px 10px'>no images</div>"
        self.previous.disabled, self.next.disabled = self.page == 0, self.page >= self.pages() - 1
        self.grid.value = cards_html(self.workspace, shown, self.image_size)


def cards_html(workspace: WorkspacePaths, rows: list[Prediction], image_size: int) -> str:
    """A thumbnail card per row: the image with what the model found over it, its name, and what was said."""
    cards = []
    for row in rows:
        try:
            picture = f"<img src='{png_uri(overlay_thumbnail(workspace, row, image_size))}' width='{THUMB}' height='{THUMB}'>"
        except (ReaderError, OSError) as exc:
            picture = f"<div class='dq-reason'>{esc(exc)}</div>"
        caption = f"<div class='dq-shot-caption'>{esc(Path(row.image).name)}<br>{esc(row.summary)}</div>"
        cards.append(f"<div class='dq-shot' style='width:{THUMB + 8}px'>{picture}{caption}</div>")
    return "<div class='dq-shots'>" + "".join(cards) + "</div>"


def overlay_thumbnail(workspace: WorkspacePaths, row: Prediction, image_size: int, size: int = THUMB) -> bytes:
    """The image as the network saw it (square, its input size), with what the model found over it, as PNG."""
    from PIL import Image, ImageDraw

    side = image_size or size
    rgb = to_rgb8(read_shown(row.image, row.key_slices[0] if row.key_slices else None).pixels)  # a study: its most telling slice
    picture = np.asarray(Image.fromarray(rgb).resize((side, side), Image.BILINEAR), np.float32)
    for file, is_heatmap in ((row.heatmap_file, True), (row.mask_file, False)):
        if file:
            with Image.open(workspace.resolve(file)) as found:
                weight = np.asarray(found.convert("L").resize((side, side), Image.BILINEAR), np.float32)
            weight = weight / 255 * 0.55 if is_heatmap else (weight > 0) * 0.45
            picture = picture * (1 - weight[..., None]) + np.array(OVERLAY, np.float32) * weight[..., None]
    image = Image.fromarray(picture.clip(0, 255).astype(np.uint8)).resize((size, size), Image.BILINEAR)
    draw, scale = ImageDraw.Draw(image), size / side
    for box in row.boxes:
        x0, y0, x1, y1 = (v * scale for v in box.box)
        draw.rectangle([x0, y0, x1, y1], outline=OVERLAY, width=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def predictions_csv(rows: list[Prediction], datasets: Path) -> str:
    """Every row: the image (its path under `datasets`, never the server's own path), what was said, the decision,
    each column's number (class score, area, box count, measured value) and the boxes found. A text cell a
    spreadsheet would run as a formula (=, +, -, @) is quoted."""
    columns = list(dict.fromkeys(c for r in rows for c in r.values))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["image", "summary", "decision", *columns, "boxes"])
    for r in rows:
        values = [f"{r.values[c]:.4f}" if c in r.values else "" for c in columns]
        texts = [spreadsheet_safe(t) for t in (shown_path(r.image, datasets), r.summary, r.decision)]
        writer.writerow([*texts, *values, len(r.boxes) if r.boxes else ""])
    return out.getvalue()


def shown_path(image: str, datasets: Path) -> str:
    """An image's path as a user may see it: under the workspace's datasets ('lesions/benign/b_001.png', a volume's
    slice as 'scan.nii.gz#3'), else its file name alone."""
    path = Path(image)
    return path.relative_to(datasets).as_posix() if path.is_relative_to(datasets) else path.name


def spreadsheet_safe(text: str) -> str:
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text
