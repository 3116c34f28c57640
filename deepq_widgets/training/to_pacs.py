"""A registered model's results sent back to the PACS its images came from (STOW-RS), a study at a time: the
model runs on the study's files in the dataset (de-identified), and its results go back as a DICOM SR or SEG
that references the study's instances under their PACS identities (pacs/origin.py, pacs/results.py).

Every object stored is then looked for on the server: a PACS may acknowledge a store and keep nothing (Orthanc
does when a filter of its own drops an instance). A study already sent this model's results is not sent them
twice unless asked; what was sent is recorded in `pacs/<dataset>/sent.csv`, outside the dataset.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import kinds
from ..contracts import ModelCard
from ..evaluations import read_card
from ..pacs.importer import read_rows, write_rows
from ..pacs.origin import NotFromPacs, StudyOrigin, origin_of, source_headers, study_folder
from ..pacs.results import Author, segmentation, structured_report
from ..pacs.server import PacsError, PacsServer
from ..workspace import WorkspacePaths
from .export import named_slices, predictions, studies_at

Progress = Callable[[str, int, int], None]
SENT = ["model", "folder", "object", "sop_uid", "sent"]


class StoreRefused(Exception):
    """The server did not keep a result (the reason says why); the next study is sent all the same."""


@dataclass
class SendReport:
    model: str
    sent: dict[str, list[str]] = field(default_factory=dict)  # study folder -> "SR 1.2.826…" / "SEG 1.2.826…"
    kept: list[str] = field(default_factory=list)  # studies an earlier run already sent this model's results
    left_out: dict[str, str] = field(default_factory=dict)  # study folder -> why nothing went back

    def summary(self) -> str:
        objects = sum(len(v) for v in self.sent.values())
        lines = [f"{objects} result objects sent back for {len(self.sent)} studies; {len(self.kept)} already had this model's results."]
        return "\n".join(lines + [f"Not sent: {study}: {why}" for study, why in self.left_out.items()])


def send_results(
    workspace: WorkspacePaths,
    server: PacsServer,
    model_id: str,
    images: Iterable[str | Path] = (),
    dataset: str | None = None,
    progress: Progress | None = None,
    again: bool = False,
) -> SendReport:
    """Run the model on `images` (study folders or their files) and every study of `dataset`, all imported from
    `server`, and store its results there. NotFromPacs when an image was not imported from a PACS."""
    card = read_card(workspace, model_id)
    studies: dict[tuple[str, str], list[Path]] = {}
    for path in [workspace.resolve(p) for p in images] + _dataset_studies(workspace, dataset):
        studies.setdefault(study_folder(workspace, path), []).append(path)
    if not studies:
        raise ValueError("nothing to send: give study folders, a dataset, or both")
    origins = {key: origin_of(workspace, *key) for key in studies}  # every one traced before anything is sent
    report, client = SendReport(model_id), server.client()
    for n, (key, paths) in enumerate(studies.items(), 1):
        log = workspace.pacs / key[0] / "sent.csv"
        if not again and any(r["model"] == model_id and r["folder"] == key[1] for r in read_rows(log)):
            report.kept.append(key[1])
        else:
            try:
                stored = _send_study(server, client, workspace, card, origins[key], paths)
            except (StoreRefused, NotFromPacs) as exc:
                report.left_out[key[1]] = str(exc)
            else:
                report.sent[key[1]] = [f"{kind} {uid}" for kind, uid in stored]
                rows = [{"model": model_id, "folder": key[1], "object": k, "sop_uid": u, "sent": f"{time.time():.0f}"} for k, u in stored]
                write_rows(log, read_rows(log) + rows, SENT)
        if progress:
            progress("sending results", n, len(studies))
    return report


def _dataset_studies(workspace: WorkspacePaths, dataset: str | None) -> list[Path]:
    if dataset is None:
        return []
    from ..data.catalog import scan_dataset

    return [Path(c.shown) for c in scan_dataset(workspace, dataset).predictable]


def _send_study(
    server: PacsServer, client: Any, workspace: WorkspacePaths, card: ModelCard, origin: StudyOrigin, paths: list[Path]
) -> list[tuple[str, str]]:
    """The model's results on one study, stored and found again on the server: [("SR" | "SEG", SOP instance UID)]."""
    try:
        headers = source_headers(server, client, origin)
    except PacsError as exc:
        if exc.status == 404:
            raise StoreRefused("the PACS no longer holds its source study") from None
        raise
    said = list(predictions(workspace, card.id, paths))
    author, masks = Author.of(card), [s.mask for s in said if s.mask is not None]
    kind = "SEG" if masks else "SR"
    try:
        if masks:
            result = segmentation(author, card.classes, np.stack(masks), [headers[Path(s.prediction.image).name] for s in said])
        else:
            found = [(s.prediction, _covered(s.prediction, headers)) for s in said]
            evidence = list({id(h): h for _, covered in found for h in covered}.values())
            result = structured_report(author, kinds.get(card.task).value_name, card.classes, found, evidence, card.image_size)
    except ValueError as exc:  # highdicom refuses sources it cannot reference (geometry it does not accept, say)
        raise StoreRefused(f"its result could not be written as a DICOM {kind}: {exc}") from None
    return [(kind, _store(server, client, origin, result))]


def _covered(prediction: Any, headers: dict[str, Any]) -> list[Any]:
    """The source instances one prediction speaks of: its file, or for a whole study its most telling slices."""
    path = Path(prediction.image)
    if path.is_dir():
        volume = studies_at(path)[0]
        files = [Path(name).name for name, _ in named_slices(volume)]
        chosen = [files[i] for i in prediction.key_slices] or files
        return [headers[f] for f in chosen]
    return [headers[path.name]]


def _store(server: PacsServer, client: Any, origin: StudyOrigin, result: Any) -> str:
    """STOW-RS `result` into its study, then look for it there; its SOP instance UID."""
    uid = str(result.SOPInstanceUID)
    try:
        with server.asking(f"storing a result for {origin.dataset}/{origin.folder}"):
            answer = client.store_instances([result], study_instance_uid=origin.study_uid)
    except PacsError as exc:
        if exc.status is None or exc.status in (401, 403):
            raise
        raise StoreRefused(f"the server refused the result (HTTP {exc.status})") from None
    failed = answer.get("FailedSOPSequence") or []
    if failed:
        reason = failed[0].get("FailureReason")
        raise StoreRefused(f"the server refused the result (failure reason 0x{int(reason or 0):04X})")
    with server.asking(f"checking a stored result for {origin.dataset}/{origin.folder}"):
        held = client.search_for_instances(study_instance_uid=origin.study_uid, search_filters={"SOPInstanceUID": uid})
    if not held:
        raise StoreRefused("the server acknowledged the result but does not hold it (a filter or policy of the server dropped it)")
    return uid
