"""How API objects show themselves: an HTML document that a notebook renders and a script can save."""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..files import atomic_write_text

STATE_COLOURS = {"waiting": "#6b7785", "running": "#1a8fd6", "finished": "#1b873f", "stopped": "#a15c00", "error": "#b3261e"}


def badge(state: str) -> str:
    colour = STATE_COLOURS.get(state, "#6b7785")
    return f"<span style='color:#fff;background:{colour};border-radius:8px;padding:1px 8px;font-size:12px'>{html.escape(state)}</span>"


class Html:
    """An HTML report: rendered inline by a notebook (`_repr_html_`), written to a file by `save`."""

    def __init__(self, document: str, title: str = ""):
        self.document, self.title = document, title

    def save(self, path: str | os.PathLike) -> Path:
        target = Path(path)
        atomic_write_text(self.document, target)
        return target

    def __repr__(self) -> str:
        return f"<{self.title or 'report'}: {len(self.document):,} characters of HTML; .save(path) writes it>"

    def _repr_html_(self) -> str:
        """In a frame of its own: the report's stylesheet must not restyle the notebook around it."""
        return f"<iframe srcdoc=\"{html.escape(self.document)}\" style='width:100%;height:720px;border:1px solid #d5dbe3'></iframe>"


@contextmanager
def progress_bars(shown: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback (stage, done, total) drawing one notebook bar per stage, all closed at the end."""
    from tqdm.auto import tqdm

    bars: dict[str, tqdm] = {}

    def advance(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage) or bars.setdefault(stage, tqdm(total=total, desc=stage, disable=not shown))
        bar.n = done
        bar.refresh()

    try:
        yield advance
    finally:
        for bar in bars.values():
            bar.close()
