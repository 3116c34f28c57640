"""Cheap per-file checks for cataloguing: signature, size and truncation, without decoding.

Cataloguing 10,000 files must take seconds, so nothing here decodes pixels. We read the
signature bytes, the image size from the header, the last bytes of the file (PNG IEND,
JPEG EOI, the DICOM sequence delimiter) and the DICOM header with `stop_before_pixels`.
Full decoding happens once, when the training cache is built.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .limits import size_problem
from .readers import dicom_meta, sniff_format

PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 1, 6: 3}  # IHDR colour type -> channels we read (alpha dropped)


@dataclass
class Probe:
    path: Path
    format: str | None = None
    width: int = 0
    height: int = 0
    channels: int = 0
    problem: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.problem is None


def probe(path: str | os.PathLike) -> Probe:
    """Identify an image file and find the damage a header read can find."""
    path = Path(path)
    result = Probe(path)
    try:
        size = path.stat().st_size
    except OSError:
        result.problem = "missing file"
        return result
    if size == 0:
        result.problem = "empty file"
        return result
    try:
        result.format = sniff_format(path)
        if result.format == "png":
            _probe_png(path, size, result)
        elif result.format == "jpg":
            _probe_jpg(path, size, result)
        elif result.format == "dicom":
            _probe_dicom(path, size, result)
        else:
            result.problem = "not an image (no PNG, JPG or DICOM signature)"
    except OSError as exc:
        result.problem = f"unreadable ({exc.strerror or exc})"
    except Exception as exc:  # a header no reader foresaw (a malformed number, an unknown syntax): this file's problem only
        result.problem = f"unreadable header ({type(exc).__name__}: {exc})"
    if result.problem is None:
        result.problem = size_problem(result.width, result.height, int(result.meta.get("frames", 1) or 1))
    return result


def _tail(path: Path, size: int, n: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(max(0, size - n))
        return fh.read()


def _probe_png(path: Path, size: int, out: Probe) -> None:
    with open(path, "rb") as fh:
        head = fh.read(33)
    if len(head) < 24 or head[12:16] != b"IHDR":
        out.problem = "damaged PNG (no IHDR header)"
        return
    out.width, out.height = struct.unpack(">II", head[16:24])
    out.channels = PNG_CHANNELS.get(head[25], 3)
    if b"IEND" not in _tail(path, size, 12):
        out.problem = "truncated PNG (no IEND chunk at the end)"


def _probe_jpg(path: Path, size: int, out: Probe) -> None:
    from PIL import Image

    try:
        with Image.open(path) as img:  # lazy: parses markers up to the frame header only
            out.width, out.height = img.size
            out.channels = 1 if img.mode == "L" else 3
    except Exception as exc:  # PIL raises several types for broken headers
        out.problem = f"damaged JPEG header ({exc})"
        return
    if not _tail(path, size, 64).rstrip(b"\x00").endswith(b"\xff\xd9"):
        out.problem = "truncated JPEG (no end-of-image marker)"


def _probe_dicom(path: Path, size: int, out: Probe) -> None:
    import pydicom

    with open(path, "rb") as fh:
        try:
            ds = pydicom.dcmread(fh, stop_before_pixels=True)
        except Exception as exc:  # pydicom raises many types for damaged headers
            out.problem = f"damaged DICOM header ({type(exc).__name__}: {exc})"
            return
        pixel_start = fh.tell()
    out.meta = dicom_meta(ds)
    out.width, out.height, out.channels = out.meta["columns"], out.meta["rows"], out.meta["channels"]
    if not out.width or not out.height:
        out.problem = "DICOM without image size (no Rows/Columns)"
        return
    remaining = size - pixel_start
    syntax = getattr(ds, "file_meta", None) and ds.file_meta.get("TransferSyntaxUID")
    if remaining <= 8:
        out.problem = "DICOM without pixel data"
    elif syntax is not None and syntax.is_compressed:
        if not _tail(path, size, 8).startswith(b"\xfe\xff\xdd\xe0"):
            out.problem = "truncated DICOM (compressed pixel data has no end delimiter)"
    else:
        bits = int(ds.get("BitsAllocated", 16))
        need = out.width * out.height * out.meta["frames"] * out.meta["channels"] * bits // 8
        if remaining - 12 < need:  # 12 = tag, VR and length of the pixel data element
            out.problem = f"truncated DICOM (pixel data holds {max(remaining - 12, 0)} of {need} bytes)"
