"""PACS search and import against a real Orthanc (tests/pacs_server.py): the query and its limit, the faults a
user meets (wrong URL, refused credentials, a silent server, undecodable pixels), de-identification, and an
import killed mid-way that resumes, read back by the catalogue as a dataset of studies."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pydicom
import pytest

from deepq_widgets.data.catalog import scan_dataset
from deepq_widgets.pacs.importer import ImportRefused, import_studies
from deepq_widgets.pacs.search import HIDDEN, StudyQuery, search_studies
from deepq_widgets.pacs.server import PacsError, PacsServer
from deepq_widgets.workspace import WorkspaceError, WorkspacePaths
from tests.pacs_server import PASSWORD, USER

EMBOLISM = StudyQuery(description="CTA CHEST")  # the demo's three embolism series, as the PACS holds them
LABELS = {"PE0000": "PE", "PE0001": "normal", "PE0002": "PE"}  # by accession number


def test_a_search_finds_by_each_field_hides_identifiers_and_stops_at_its_limit(orthanc):
    everything = search_studies(orthanc, StudyQuery())
    assert len(everything.studies) == 6 and not everything.more
    assert {s.row()["patient_id"] for s in everything.studies} == {HIDDEN}  # until asked for
    one = search_studies(orthanc, StudyQuery(patient="PE-0001")).studies
    assert [s.row(show_identifiers=True)["patient_id"] for s in one] == ["PE-0001"] and one[0].instances == 24
    assert {s.accession for s in search_studies(orthanc, StudyQuery(modality="MR")).studies} >= {"ODD1"}
    assert len(search_studies(orthanc, EMBOLISM).studies) == 3
    assert len(search_studies(orthanc, StudyQuery(date="20260101-20261231", modality="CT")).studies) == 3
    capped = search_studies(orthanc, StudyQuery(), limit=2)
    assert len(capped.studies) == 2 and capped.more and "More than 2 studies match" in capped.summary(2)
    with pytest.raises(ValueError, match="use YYYYMMDD"):
        search_studies(orthanc, StudyQuery(date="last week"))


def test_a_search_reads_the_server_a_page_at_a_time_until_its_limit(orthanc, monkeypatch):
    import deepq_widgets.pacs.search as search

    asked = []
    monkeypatch.setattr(search, "PAGE", 2)  # 6 studies: 3 pages (as 10,000 would be 100 pages of 100)
    client = orthanc.client()
    monkeypatch.setattr(type(orthanc), "client", lambda server: client)
    original = client.search_for_studies
    monkeypatch.setattr(client, "search_for_studies", lambda **kw: asked.append(kw["offset"]) or original(**kw))
    everything = search_studies(orthanc, StudyQuery())
    assert len({s.study_uid for s in everything.studies}) == 6 and not everything.more and asked == [0, 2, 4, 6]
    asked.clear()
    capped = search_studies(orthanc, StudyQuery(), limit=3)
    assert len(capped.studies) == 3 and capped.more and asked == [0, 2]  # stops once past the limit: no page more


def test_a_wrong_url_refused_credentials_and_a_wrong_path_are_named(orthanc):
    port = orthanc.url.split(":")[2].split("/")[0]
    cases = {
        PacsServer(orthanc.url, USER, "wrong"): "refused the credentials as 'deepq' (HTTP 401)",
        PacsServer(orthanc.url): "refused the credentials without credentials (set DEEPQ_PACS_USER",
        PacsServer(f"http://127.0.0.1:{port}/dicomweb", USER, PASSWORD): "has no DICOMweb service there (HTTP 404)",
        PacsServer("http://127.0.0.1:9/dicom-web", USER, PASSWORD): "cannot reach http://127.0.0.1:9/dicom-web (connection refused)",
    }
    for server, said in cases.items():
        with pytest.raises(PacsError, match=said.replace("(", r"\(").replace(")", r"\)")):
            search_studies(server, StudyQuery())
    with pytest.raises(PacsError, match="not a DICOMweb URL"):
        PacsServer.from_environment("pacs.example.org")


def test_an_import_is_de_identified_kept_apart_from_its_key_and_read_as_studies(orthanc, tmp_path):
    ws = WorkspacePaths(tmp_path / "ws")
    studies = search_studies(orthanc, EMBOLISM).studies
    report = import_studies(ws, orthanc, studies, "embolism_from_pacs", labels=LABELS)
    assert (report.imported, report.kept, report.instances, report.left_out) == (3, 0, 72, {})
    assert "replaced PatientName, PatientID, PatientBirthDate, AccessionNumber" in report.summary()
    dataset = ws.datasets / "embolism_from_pacs"
    for path in dataset.rglob("*"):
        if path.is_file():
            raw = path.read_bytes()
            assert b"PE-000" not in raw and b"DEMO^" not in raw, path  # no patient ID or name, in any file
    for folder in sorted(p for p in dataset.iterdir() if p.is_dir()):
        headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in sorted(folder.glob("*.dcm"))]
        assert len(headers) == 24 and len({(h.StudyInstanceUID, h.SeriesInstanceUID, h.PatientID) for h in headers}) == 1
        assert headers[0].PatientIdentityRemoved == "YES" and headers[0].StudyInstanceUID not in {s.study_uid for s in studies}
    keys = ws.pacs / "embolism_from_pacs"
    assert (keys / "mapping.csv").exists() and not list(dataset.rglob("mapping.csv"))  # the key to re-identify, apart
    assert oct((keys / "key").stat().st_mode & 0o777) == "0o600"
    info = scan_dataset(ws, "embolism_from_pacs")
    assert len(info.usable) == 3 and sorted(c.labels[0] for c in info.usable) == ["PE", "PE", "normal"]

    folders = sorted(p.name for p in dataset.glob("study-*"))
    shutil.rmtree(dataset / folders[0])  # one study lost: fetched again, under the same name (the same key)
    again = import_studies(ws, orthanc, studies, "embolism_from_pacs")
    assert (again.imported, again.kept) == (1, 2) and sorted(p.name for p in dataset.glob("study-*")) == folders
    assert sorted(c.labels[0] for c in scan_dataset(ws, "embolism_from_pacs").usable) == ["PE", "PE", "normal"]  # kept
    (ws.datasets / "embolism_elsewhere").mkdir()
    with pytest.raises(ImportRefused, match="exists and was not made by an import"):
        import_studies(ws, orthanc, studies, "embolism_elsewhere")
    with pytest.raises(WorkspaceError):
        import_studies(ws, orthanc, studies, "../outside")


def test_instances_that_fail_to_parse_leave_their_study_out_named_and_the_rest_come_in(orthanc, faulty, tmp_path):
    ws = WorkspacePaths(tmp_path / "ws")
    studies = search_studies(orthanc, EMBOLISM).studies
    faulty.damage = studies[1].study_uid  # its instances arrive cut short
    report = import_studies(ws, PacsServer(faulty.url, USER, PASSWORD), studies, "embolism")
    assert report.imported == 2 and len(report.left_out) == 1
    (why,) = report.left_out.values()
    assert "an instance could not be read (InvalidDicomError" in why
    assert sorted(len(list(p.glob("*.dcm"))) for p in (ws.datasets / "embolism").iterdir() if p.is_dir()) == [24, 24]


def test_undecodable_pixels_leave_their_study_out_named_and_another_writers_files_come_in_whole(orthanc, tmp_path):
    ws = WorkspacePaths(tmp_path / "ws")
    mr = search_studies(orthanc, StudyQuery(modality="MR")).studies
    report = import_studies(ws, orthanc, mr, "mr_from_pacs")
    assert report.imported == 1 and len(report.left_out) == 1
    (why,) = report.left_out.values()
    assert "MPEG2" in why and "cannot be decoded here" in why
    (imported,) = (ws.datasets / "mr_from_pacs").glob("study-*/*.dcm")
    from pydicom.data import get_testdata_file

    original = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    np.testing.assert_array_equal(pydicom.dcmread(imported).pixel_array, original.pixel_array)  # pixels untouched


def test_a_silent_server_is_named_and_a_killed_import_resumes_with_nothing_half_written(orthanc, faulty, tmp_path):
    ws = WorkspacePaths(tmp_path / "ws")
    studies = search_studies(orthanc, EMBOLISM).studies
    faulty.stall = studies[1].study_uid  # the server stops answering at the second study
    through_proxy = PacsServer(faulty.url, USER, PASSWORD, timeout_s=2)
    with pytest.raises(PacsError, match="did not answer within 2 s"):
        import_studies(ws, through_proxy, studies, "embolism")
    dataset = ws.datasets / "embolism"
    assert [len(list(p.glob("*.dcm"))) for p in dataset.iterdir() if p.is_dir()] == [24]  # the first, whole

    env = {**os.environ, "DEEPQ_PACS_PASSWORD": PASSWORD}
    argv = [sys.executable, "-m", "deepq_widgets.cli", "pacs", "import", "--workspace", str(ws.root), "--url", faulty.url]
    killed = subprocess.Popen(
        [*argv, "--user", USER, "--description", "CTA CHEST", "--dataset", "again"], env=env, stdin=subprocess.DEVNULL
    )
    while not list((ws.datasets / "again").glob("study-*")) and killed.poll() is None:
        time.sleep(0.1)
    time.sleep(1)  # now held at the second study
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert [len(list(p.glob("*.dcm"))) for p in (ws.datasets / "again").iterdir() if p.is_dir()] == [24]

    faulty.stall = None
    resumed = import_studies(ws, orthanc, studies, "again")
    assert (resumed.imported, resumed.kept) == (2, 1)
    assert sorted(len(list(p.glob("*.dcm"))) for p in (ws.datasets / "again").iterdir() if p.is_dir()) == [24, 24, 24]
    assert not (ws.pacs / "again" / "partial").exists()


def test_the_notebook_api_searches_and_imports_with_labels_from_a_csv_or_an_attribute(orthanc, tmp_path):
    import deepq_widgets as dq

    pacs = dq.Workspace(tmp_path / "ws").pacs(orthanc.url, USER, PASSWORD)
    table = pacs.search(description="CTA CHEST")
    assert len(table) == 3 and set(table["patient_id"]) == {HIDDEN} and table.attrs["summary"] == "3 studies match."
    with pytest.raises(ImportRefused, match="More than 2 studies match"):
        pacs.import_studies("too_many", description="CTA CHEST", limit=2)
    report = pacs.import_studies("one_patient", labels={"PE0001": "normal"}, patient="PE-0001", progress=False)
    assert (report.imported, report.instances) == (1, 24)
    assert [c.labels for c in scan_dataset(WorkspacePaths(tmp_path / "ws"), "one_patient").usable] == [("normal",)]
    with pytest.raises(ImportRefused, match="would carry what de-identification removes"):
        pacs.import_studies("by_name", label_attribute="PatientName", patient="PE-0001")
    assert not (tmp_path / "ws" / "datasets" / "by_name").exists()  # refused before anything was written
    pacs.import_studies("by_description", label_attribute="StudyDescription", patient="PE-0001", progress=False)
    assert [c.labels for c in scan_dataset(WorkspacePaths(tmp_path / "ws"), "by_description").usable] == [("CTA CHEST PE PROTOCOL",)]
