"""A study's middle slice as a small picture for the search table: one instance of its largest series, fetched
as stored and decoded here as the dataset previews decode it. Pixels of modalities that often carry burned-in
names (ultrasound, secondary captures) are identifiers too: the table shows them only when identifiers are."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from .deidentify import MAY_CARRY_TEXT
from .search import FoundStudy, largest_series
from .server import AS_STORED, PacsError, PacsServer

SHOWN = 6  # studies of a search whose thumbnail is fetched (one instance each)
SIDE = 64


def may_show(study: FoundStudy, show_identifiers: bool) -> bool:
    """Whether a thumbnail of `study` may be shown: always with identifiers, else not where pixels may carry text."""
    return show_identifiers or not set(study.modalities.split("/")) & set(MAY_CARRY_TEXT)


def study_thumbnail(server: PacsServer, study: FoundStudy, side: int = SIDE) -> bytes | None:
    """The study's middle slice as a PNG `side` pixels square; None when it cannot be fetched or decoded here."""
    import pydicom
    from PIL import Image

    from ..data.preview import to_rgb8
    from ..data.readers import ReaderError, read_image

    client = server.client()
    try:
        series = largest_series(server, client, study)
        with server.asking(f"listing the instances of a study ({study.description})"):
            found = [pydicom.Dataset.from_json(i) for i in client.search_for_instances(study.study_uid, series, fields=["InstanceNumber"])]
        if not found:
            return None
        middle = sorted(found, key=lambda i: int(i.get("InstanceNumber", 0) or 0))[len(found) // 2]
        with server.asking(f"fetching a slice of a study ({study.description})"):
            ds = client.retrieve_instance(study.study_uid, series, str(middle.SOPInstanceUID), media_types=(AS_STORED,))
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "slice.dcm"
            ds.save_as(path, enforce_file_format=True)
            pixels = read_image(path).pixels
    except (PacsError, ReaderError, ValueError, OSError):
        return None  # a table without this picture; the import says what is wrong with the study
    picture = Image.fromarray(to_rgb8(pixels))
    picture.thumbnail((side, side))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
