"""`ws.pacs(url)`: the hospital's PACS from a notebook: search it, import studies as a de-identified dataset, and
send a model's results back, with the same functions as the dashboard's panel and `deepq pacs` / `deepq predict
--to-pacs`. The password comes from the caller or $DEEPQ_PACS_PASSWORD and stays in memory."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..pacs.importer import ImportRefused, ImportReport, import_studies
from ..pacs.search import LIMIT, SearchResult, StudyQuery, search_studies
from ..pacs.server import PacsServer
from ..workspace import WorkspacePaths
from .display import progress_bars

if TYPE_CHECKING:
    import pandas as pd

    from ..training.to_pacs import SendReport


class Pacs:
    """A DICOMweb server seen from one workspace."""

    def __init__(self, workspace: WorkspacePaths, server: PacsServer):
        self.workspace, self.server = workspace, server

    def search(self, limit: int = LIMIT, show_identifiers: bool = False, **query: str) -> pd.DataFrame:
        """The studies matching `query` (patient, date, modality, description, accession), at most `limit`; patient
        identifiers hidden unless asked. `.attrs["summary"]` says whether more matched than were listed."""
        import pandas as pd

        found = self._found(limit, query)
        table = pd.DataFrame([s.row(show_identifiers) for s in found.studies])
        table.attrs["summary"] = found.summary(limit)
        return table

    def import_studies(
        self,
        dataset: str,
        labels: dict[str, str] | None = None,
        label_attribute: str | None = None,
        deidentify: bool = True,
        limit: int = LIMIT,
        progress: bool = True,
        **query: str,
    ) -> ImportReport:
        """The studies matching `query` as the dataset `dataset` (resumable: run again, it fetches only what is
        missing), de-identified unless `deidentify=False`; its label.csv filled from `labels` (by accession number) or
        each study's `label_attribute` (a DICOM keyword, one de-identification keeps).
        Refused when more than `limit` studies match: narrow the query or raise the limit."""
        found = self._found(limit, query)
        if found.more:
            raise ImportRefused(found.summary(limit))
        with progress_bars(progress) as advance:
            return import_studies(self.workspace, self.server, found.studies, dataset, deidentify, labels, advance, label_attribute)

    def send_results(
        self, model: str, dataset: str | None = None, images: Iterable[str | Path] = (), again: bool = False, progress: bool = True
    ) -> SendReport:
        """Run `model` on the studies of `dataset` (or `images`: study folders imported from this PACS) and store its
        results there, as a DICOM SR or SEG under each patient's own study; a study already sent is skipped unless
        `again`."""
        from ..training.to_pacs import send_results

        with progress_bars(progress) as advance:
            return send_results(self.workspace, self.server, model, images, dataset, advance, again)

    def _found(self, limit: int, query: dict[str, str]) -> SearchResult:
        return search_studies(self.server, StudyQuery(**query), limit)

    def __repr__(self) -> str:
        return f"<PACS {self.server.url}{' as ' + self.server.user if self.server.user else ''}>"
