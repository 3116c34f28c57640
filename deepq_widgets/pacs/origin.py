"""Where an imported study came from: a study folder (or one of its files) of a dataset a PACS import made, traced
back through the import's record (kept outside the dataset) to the study, series and instances the PACS holds,
and those instances' headers fetched again from the server. A result sent back is filed under the patient's own
study, with the patient's own identifiers, which never entered the dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..workspace import WorkspacePaths
from .importer import read_rows
from .server import PacsServer


class NotFromPacs(ValueError):
    """The image was not imported from a PACS (or its import kept no record of its instances)."""


@dataclass(frozen=True)
class StudyOrigin:
    dataset: str
    folder: str  # the study's folder in the dataset
    study_uid: str  # on the PACS
    series_uid: str
    sop_uids: dict[str, str]  # file name in the folder -> the instance's UID on the PACS


def study_folder(workspace: WorkspacePaths, image: str | Path) -> tuple[str, str]:
    """(dataset, study folder) of a study folder or a file in one, inside the workspace's datasets."""
    path = Path(str(image).split("#")[0]).resolve()
    try:
        parts = path.relative_to(workspace.datasets.resolve()).parts
    except ValueError:
        raise NotFromPacs(f"{image}: not in a dataset of this workspace") from None
    if len(parts) < 2:
        raise NotFromPacs(f"{image}: not a study of a dataset")
    return parts[0], parts[1]


def origin_of(workspace: WorkspacePaths, dataset: str, folder: str) -> StudyOrigin:
    """The PACS study behind `datasets/<dataset>/<folder>`, from the import's record."""
    own = workspace.pacs / dataset
    row = next((r for r in read_rows(own / "mapping.csv") if r["folder"] == folder), None)
    if row is None:
        raise NotFromPacs(f"{dataset}/{folder}: not imported from a PACS (no import record names it)")
    files = read_rows(own / "instances" / f"{folder}.csv")
    if not files:
        raise NotFromPacs(f"{dataset}/{folder}: imported before instances were recorded; import it again to send results back")
    return StudyOrigin(dataset, folder, row["study_uid"], row["series_uid"], {r["file"]: r["sop_uid"] for r in files})


def source_headers(server: PacsServer, client: Any, origin: StudyOrigin) -> dict[str, Any]:
    """File name -> that instance's header as the PACS holds it now (WADO-RS metadata: no pixels fetched)."""
    import pydicom

    with server.asking(f"reading the source study of {origin.dataset}/{origin.folder}"):
        items = client.retrieve_series_metadata(origin.study_uid, origin.series_uid)
    by_uid = {}
    for item in items:
        kept = {tag: element for tag, element in item.items() if "BulkDataURI" not in element}  # pixels stay on the server
        header = pydicom.Dataset.from_json(kept)
        by_uid[str(header.SOPInstanceUID)] = header
    missing = [name for name, uid in origin.sop_uids.items() if uid not in by_uid]
    if missing:
        raise NotFromPacs(f"{origin.dataset}/{origin.folder}: the PACS no longer holds {len(missing)} of its instances")
    return {name: by_uid[uid] for name, uid in origin.sop_uids.items()}
