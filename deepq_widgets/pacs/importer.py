"""Studies from the PACS into a dataset folder, one study at a time.

Each study is fetched (WADO-RS, one series at a time, streamed), de-identified, written under the import's own
folder (`pacs/<dataset>/partial/`, outside the dataset) and only then renamed into `datasets/<dataset>/`: the
dataset never holds half a study. The import's record (`pacs/<dataset>/mapping.csv`: which study became which
folder, the re-identification key; `instances/<folder>.csv`: which file was which instance, so that results can go
back to the study they came from; `key`: the de-identification seed) lives beside, never inside, the dataset.
Run again, it keeps the studies it has and fetches the rest: an interrupted import resumes. A study the server
cannot give whole, or whose pixels cannot be decoded here, is left out and named; the rest go on.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..files import atomic_write_text, fsync_folder
from ..workspace import WorkspacePaths
from .deidentify import Deidentifier, removed_by_deidentification
from .search import FoundStudy, largest_series
from .server import AS_STORED, PacsError, PacsServer

Progress = Callable[[str, int, int], None]
LOCK, PROGRESS, REPORT = "importing.lock", "progress.json", "import_report.json"  # in pacs/<dataset>/
MAPPING = ["folder", "study_uid", "patient_id", "accession", "new_study_uid", "new_patient_id", "series_uid", "instances"]


class ImportRefused(ValueError):
    """The import cannot start (the dataset exists and is not this import's, say); nothing was written."""


@dataclass
class ImportReport:
    dataset: str
    imported: int = 0  # studies written by this run
    kept: int = 0  # studies an earlier run had written
    instances: int = 0
    bytes: int = 0
    seconds: float = 0.0
    deidentified: bool = True
    removed: str = ""  # what de-identification replaced and removed
    burned_in: list[str] = field(default_factory=list)  # folders whose pixels may carry text: look before sharing
    left_out: dict[str, str] = field(default_factory=dict)  # study (its position and description) -> why

    def summary(self) -> str:
        lines = [f"{self.imported} studies imported into {self.dataset} ({self.instances} instances), {self.kept} kept from before."]
        if self.deidentified and self.imported:
            lines.append(f"De-identified (DICOM PS3.15 basic profile): {self.removed}.")
        else:
            lines.append("Not de-identified: the files carry the patients' identifiers as the PACS holds them.")
        if self.burned_in:
            lines.append(f"May carry burned-in text in the pixels (look before sharing): {', '.join(self.burned_in)}.")
        lines += [f"Left out: {study}: {why}" for study, why in self.left_out.items()]
        return "\n".join(lines)


def import_studies(
    workspace: WorkspacePaths,
    server: PacsServer,
    studies: Iterable[FoundStudy],
    dataset: str,
    deidentify: bool = True,
    labels: dict[str, str] | None = None,
    progress: Progress | None = None,
    label_attribute: str | None = None,
) -> ImportReport:
    """`studies` into `datasets/<dataset>`, one folder a study (its largest series), with a label.csv naming each:
    the label from `labels` (keyed by accession number), else the study's `label_attribute` (a DICOM keyword such
    as BodyPartExamined; refused if de-identification would remove it: it identifies), else empty to fill in."""
    from pydicom.datadict import keyword_dict  # here: the dashboard imports this module before any import runs

    studies = list(studies)
    if label_attribute and not keyword_dict.get(label_attribute):
        raise ImportRefused(f"{label_attribute!r} is not a DICOM attribute keyword (e.g. BodyPartExamined, SeriesDescription)")
    if label_attribute and deidentify and removed_by_deidentification(label_attribute):
        raise ImportRefused(f"labels from {label_attribute} would carry what de-identification removes: choose another attribute")
    target = workspace.dataset_dir(dataset)  # refuses a name that would leave datasets/
    own = workspace.pacs / target.name
    if target.exists() and not (own / "mapping.csv").exists():
        raise ImportRefused(f"dataset {dataset!r} exists and was not made by an import: choose a new name")
    own.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(own / LOCK, "a") as lock:  # held while this import runs: one import into a dataset at a time
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ImportRefused(f"an import into {dataset!r} is running already") from None
        scrub = Deidentifier(own) if deidentify else None
        report = _import(server, studies, target, own, scrub, labels or {}, progress, label_attribute)
    atomic_write_text(json.dumps(asdict(report), indent=2), own / REPORT)
    return report


def _import(
    server: PacsServer,
    studies: list[FoundStudy],
    target: Path,
    own: Path,
    scrub: Deidentifier | None,
    labels: dict[str, str],
    progress: Progress | None,
    label_attribute: str | None,
) -> ImportReport:
    """The import proper, under its lock: each study fetched, written whole, recorded; progress said as it goes
    (to `progress` and to `progress.json`, which a dashboard that did not start the import follows)."""
    record = own / "mapping.csv"
    shutil.rmtree(own / "partial", ignore_errors=True)  # what a killed run left half-written
    target.mkdir(parents=True, exist_ok=True)
    done = {row["study_uid"]: row for row in read_rows(record)}
    report, start, client = ImportReport(target.name, deidentified=scrub is not None), time.perf_counter(), server.client()
    total, fetched = sum(s.instances for s in studies), 0
    for n, study in enumerate(studies, 1):
        _said(own, progress, fetched, total)
        fetched += study.instances  # counted once this study is in, kept or left out
        if study.study_uid in done and (target / done[study.study_uid]["folder"]).is_dir():
            report.kept += 1
            continue
        name = f"study {n} of {len(studies)} ({study.description or 'no description'}, {study.date or 'no date'})"
        try:
            row, written, burned = _fetch_study(server, client, study, own / "partial", scrub, label_attribute)
        except StudyLeftOut as exc:
            report.left_out[name] = str(exc)
            continue
        (own / "instances").mkdir(exist_ok=True)
        shutil.move(own / "partial" / f"{row['folder']}.csv", own / "instances" / f"{row['folder']}.csv")
        shutil.move(own / "partial" / row["folder"], target / row["folder"])  # a rename: the study appears whole
        fsync_folder(target)
        done[study.study_uid] = row | {"label": labels.get(study.accession) or row.get("label", "")}
        write_rows(record, done.values(), [*MAPPING, "label"])
        report.imported += 1
        report.instances += int(row["instances"])
        report.bytes += written
        if burned:
            report.burned_in.append(row["folder"])
    _said(own, progress, total, total)
    _write_labels(target, done.values())
    shutil.rmtree(own / "partial", ignore_errors=True)
    report.removed = scrub.done.summary() if scrub else ""
    report.seconds = round(time.perf_counter() - start, 2)
    return report


def _said(own: Path, progress: Progress | None, done: int, total: int) -> None:
    atomic_write_text(json.dumps({"done": done, "total": total}), own / PROGRESS)
    if progress:
        progress("fetching instances", done, total)


class StudyLeftOut(Exception):
    """This study cannot be imported (the reason says why); the import goes on with the next."""


def _fetch_study(server: PacsServer, client, study: FoundStudy, partial: Path, scrub: Deidentifier | None, label_attribute: str | None):
    """The study's largest series, de-identified, in a folder under `partial`: (mapping row, bytes, burned-in)."""
    import pydicom

    try:
        series_uid = largest_series(server, client, study)
    except ValueError as exc:
        raise StudyLeftOut(str(exc)) from None
    try:
        with server.asking(f"fetching a study ({study.description})"):
            # as stored (transfer syntax *): no transcoding on the server, which fails for what it cannot decode
            instances = list(client.iter_series(study.study_uid, series_uid, media_types=(AS_STORED,)))
    except PacsError as exc:
        if exc.status in (None, 401, 403):  # no answer, or no longer allowed: the import stops here, resumable
            raise
        raise StudyLeftOut(f"the server could not give it (HTTP {exc.status})") from None
    except (ValueError, AttributeError, EOFError, pydicom.errors.InvalidDicomError) as exc:
        raise StudyLeftOut(f"an instance could not be read ({type(exc).__name__}: {exc})") from None
    if not instances:
        raise StudyLeftOut("its series came back empty")
    _decodable(instances[0])
    original = {"study_uid": study.study_uid, "patient_id": str(instances[0].get("PatientID", "")), "accession": study.accession}
    sop_uids = {id(ds): str(ds.SOPInstanceUID) for ds in instances}  # before de-identification replaces them
    label = str(instances[0].get(label_attribute, "")).strip() if label_attribute else ""
    burned = any([scrub(ds) for ds in instances]) if scrub else False  # a list: every instance de-identified
    original["label"] = label
    new_uid = str(instances[0].StudyInstanceUID)
    folder = "study-" + hashlib.sha256(new_uid.encode()).hexdigest()[:12]  # names nothing about the patient
    out = partial / folder
    out.mkdir(parents=True)
    written, files = 0, []
    ordered = sorted(instances, key=lambda ds: (int(ds.get("InstanceNumber", 0) or 0), str(ds.SOPInstanceUID)))
    for i, ds in enumerate(ordered):
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        with open(out / f"{i:04d}.dcm", "wb") as fh:
            fh.write(buffer.getbuffer())
            os.fsync(fh.fileno())
        written += buffer.tell()
        files.append({"file": f"{i:04d}.dcm", "sop_uid": sop_uids[id(ds)]})
    fsync_folder(out)
    write_rows(partial / f"{folder}.csv", files, ["file", "sop_uid"])
    row = original | {
        "folder": folder,
        "new_study_uid": new_uid,
        "new_patient_id": str(instances[0].get("PatientID", "")),
        "series_uid": series_uid,
        "instances": str(len(instances)),
    }
    return row, written, burned


def _decodable(ds) -> None:
    """Refuse a study whose pixels this installation cannot decode (a JPEG 2000 series without its decoder, say)."""
    try:
        ds.pixel_array  # noqa: B018 - decoding is the check
    except Exception as exc:  # pydicom raises several kinds here, all meaning "cannot decode"
        syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
        named = f"{syntax.name} ({syntax})" if syntax is not None else "its transfer syntax"
        raise StudyLeftOut(f"its pixels, in {named}, cannot be decoded here: {exc}") from None


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of one of the import's CSV files; none where it does not exist."""
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def write_rows(path: Path, rows: Iterable[dict[str, str]], columns: list[str]) -> None:
    """A CSV of the import's record, readable by its owner only (it re-identifies patients)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out.getvalue(), path)
    path.chmod(0o600)


def _write_labels(target: Path, rows: Iterable[dict[str, str]]) -> None:
    """label.csv: a row a study, its label as given (or as the user has since filled it in), else empty."""
    path = target / "label.csv"
    filled = {r["path"]: r.get("class", "") for r in read_rows(path)}
    lines = ["path,class"] + [f"{r['folder']},{filled.get(r['folder']) or r.get('label', '')}" for r in rows]
    atomic_write_text("\n".join(lines) + "\n", path)
