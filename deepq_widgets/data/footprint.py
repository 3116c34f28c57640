"""What a dataset's training cache takes, said before it is built: its channels, its bytes on disk, and how
many cases a decoding process holds at a time. Pure (no numpy, no decoding): the wizard and the plan use it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

CHUNK = 256  # cases a decoding process handles at a time


class ImagedDataset(Protocol):
    channels: int  # the most common channel count of its images


def network_channels(info: ImagedDataset, windows: Sequence[str]) -> int:
    """Three channels for colour images or stacked windows, else one (grey-scale)."""
    return 3 if info.channels == 3 or len(windows) > 1 else 1


def cache_bytes(cases: int, size: int, channels: int, masks: bool = False) -> int:
    """Disk the cache of `cases` cases takes (memory stays bounded: rows are read through a memory map)."""
    return cases * size * size * (channels + int(masks))


def describe_size(nbytes: int) -> str:
    """'1.2 GB': for the plan's note on the cache."""
    if nbytes < 1:
        return "0 B"
    units = ["B", "kB", "MB", "GB", "TB"]
    step = min(int(math.log(nbytes, 1000)), len(units) - 1)
    return f"{nbytes / 1000**step:.1f} {units[step]}" if step else f"{nbytes} B"
