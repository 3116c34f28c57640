"""Studies on the server matching a query (QIDO-RS), read a page at a time up to a limit the user sets: a query
that matches 10,000 studies says so instead of fetching them all."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from .server import PacsServer

LIMIT = 200  # studies a search lists (and an import takes) unless the user raises it
PAGE = 100  # studies asked for per request
HIDDEN = "(hidden)"  # a patient identifier, until the user asks to see them
FIELDS = [
    "PatientID",
    "PatientName",
    "StudyDate",
    "StudyDescription",
    "AccessionNumber",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
]
_DATE = re.compile(r"^\d{8}(-\d{8})?$|^\d{8}-$|^-\d{8}$")


@dataclass(frozen=True)
class StudyQuery:
    """What the user asks for; every part optional (wildcards * and ? as DICOM matching has them)."""

    patient: str | None = None  # PatientID
    date: str | None = None  # YYYYMMDD, or a range YYYYMMDD-YYYYMMDD (either end may be open)
    modality: str | None = None  # CT, MR, CR...
    description: str | None = None  # part of StudyDescription
    accession: str | None = None

    def filters(self) -> dict[str, str]:
        if self.date and not _DATE.match(self.date):
            raise ValueError(f"date {self.date!r}: use YYYYMMDD or a range YYYYMMDD-YYYYMMDD")
        given = {
            "PatientID": self.patient,
            "StudyDate": self.date,
            "ModalitiesInStudy": self.modality.upper() if self.modality else None,
            # words in order, anything between: servers differ on spaces in a query (Orthanc 1.10 matches none)
            "StudyDescription": "*" + "*".join(self.description.split()) + "*" if self.description else None,
            "AccessionNumber": self.accession,
        }
        return {key: value for key, value in given.items() if value}


@dataclass(frozen=True)
class FoundStudy:
    study_uid: str
    patient_id: str
    patient_name: str
    date: str
    description: str
    accession: str
    modalities: str
    series: int
    instances: int

    def row(self, show_identifiers: bool = False) -> dict:
        """The study as a table row; the patient's ID and name hidden unless asked for."""
        out = asdict(self)
        if not show_identifiers:
            out |= {"patient_id": HIDDEN, "patient_name": HIDDEN, "accession": HIDDEN}
        return out


@dataclass(frozen=True)
class SearchResult:
    studies: list[FoundStudy]
    more: bool  # more studies match than the limit let through

    def summary(self, limit: int) -> str:
        n = len(self.studies)
        if self.more:
            return f"More than {limit} studies match: the first {n} are listed; narrow the query or raise the limit."
        return f"{n} {'study matches' if n == 1 else 'studies match'}."


def search_studies(server: PacsServer, query: StudyQuery, limit: int = LIMIT) -> SearchResult:
    """The studies matching `query`, at most `limit`, in the server's order."""
    import pydicom

    client, filters, found = server.client(), query.filters(), []
    with server.asking("searching for studies"):
        while len(found) <= limit:
            page = client.search_for_studies(search_filters=filters, fields=FIELDS, limit=PAGE, offset=len(found))
            found += [_study(pydicom.Dataset.from_json(item)) for item in page]
            if len(page) < PAGE:
                break
    return SearchResult(found[:limit], more=len(found) > limit)


def _study(ds) -> FoundStudy:
    values = ds.get("ModalitiesInStudy", "")  # one value as text, several as a list
    return FoundStudy(
        study_uid=str(ds.StudyInstanceUID),
        patient_id=str(ds.get("PatientID", "")),
        patient_name=str(ds.get("PatientName", "")),
        date=str(ds.get("StudyDate", "")),
        description=str(ds.get("StudyDescription", "")),
        accession=str(ds.get("AccessionNumber", "")),
        modalities=values if isinstance(values, str) else "/".join(values),
        series=int(ds.get("NumberOfStudyRelatedSeries", 0) or 0),
        instances=int(ds.get("NumberOfStudyRelatedInstances", 0) or 0),
    )


def largest_series(server: PacsServer, client: Any, study: FoundStudy) -> str:
    """The UID of the study's series with the most instances (the scan, not its scout or its reports)."""
    import pydicom

    fields = ["Modality", "SeriesDescription", "SeriesNumber", "NumberOfSeriesRelatedInstances"]
    with server.asking(f"listing the series of a study ({study.description})"):
        series = [pydicom.Dataset.from_json(s) for s in client.search_for_series(study.study_uid, fields=fields)]
    if not series:
        raise ValueError("the server lists no series in it")
    return str(max(series, key=lambda s: int(s.get("NumberOfSeriesRelatedInstances", 0) or 0)).SeriesInstanceUID)
