"""The dataset step's PACS panel against the real Orthanc: a search shown as a table (identifiers hidden until
asked for), an import run as `deepq pacs import` in a child process with the password in its environment only,
a progress bar, and the new dataset chosen where it fits the task."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime

import pytest

from deepq_widgets.pacs.import_job import import_state, start_import
from deepq_widgets.pacs.importer import ImportRefused
from deepq_widgets.pacs.search import StudyQuery, search_studies
from deepq_widgets.pacs.thumbnails import may_show
from deepq_widgets.widgets.pacs_panel import PacsPanel
from deepq_widgets.workspace import WorkspacePaths
from tests.pacs_server import PASSWORD, USER

pytestmark = pytest.mark.slow


def test_the_panel_searches_imports_with_labels_and_hands_over_the_dataset(orthanc, tmp_path, monkeypatch):
    monkeypatch.delenv("DEEPQ_PACS_PASSWORD", raising=False)
    ws = WorkspacePaths(tmp_path / "ws")
    handed = []
    panel = PacsPanel(ws, imported=handed.append)
    panel.login.url.value, panel.login.user.value, panel.login.password.value = orthanc.url, USER, PASSWORD
    panel.query["description"].value = "cta chest"
    panel._search()
    assert "3 studies match" in panel.table.value and "(hidden)" in panel.table.value and "PE-0001" not in panel.table.value
    assert panel.table.value.count("alt='middle slice'") == 3  # each study's middle slice, fetched and decoded here
    ultrasound = dataclasses.replace(panel.found.studies[0], modalities="US")
    assert not may_show(ultrasound, False) and may_show(ultrasound, True)  # pixels that may carry names: identifiers
    panel.identifiers.value = True
    assert "PE-0001" in panel.table.value

    panel.name.value = "embolism"
    labels = b"accession,label\nPE0000,PE\nPE0001,normal\nPE0002,PE\n"
    panel.labels.value = (
        {"name": "labels.csv", "type": "text/csv", "size": len(labels), "content": memoryview(labels), "last_modified": datetime.now()},
    )
    seen = []
    panel.progress.observe(lambda change: seen.append(change["new"]), "value")
    panel._import()
    assert "3 studies imported into <b>embolism</b> (72 instances" in panel.status.value and "De-identified" in panel.status.value
    assert handed == ["embolism"] and seen and seen[-1] == panel.progress.max == 72
    rows = (ws.datasets / "embolism" / "label.csv").read_text().splitlines()
    assert sorted(r.split(",")[1] for r in rows[1:]) == ["PE", "PE", "normal"]
    assert PASSWORD not in (ws.pacs / "embolism" / "labels.csv").read_text()  # nor anywhere the import wrote
    assert not any(PASSWORD.encode() in p.read_bytes() for p in ws.root.rglob("*") if p.is_file())

    panel.login.password.value = "wrong"
    with pytest.raises(RuntimeError, match="refused the credentials"):
        panel._import()  # the child's refusal, as the panel shows it


def test_an_import_goes_on_without_the_page_and_a_reloaded_page_follows_it(orthanc, faulty, tmp_path, monkeypatch):
    monkeypatch.delenv("DEEPQ_PACS_PASSWORD", raising=False)
    ws = WorkspacePaths(tmp_path / "ws")
    faulty.stall = search_studies(orthanc, StudyQuery(description="CTA CHEST")).studies[1].study_uid  # held at study 2
    args = ["--url", faulty.url, "--user", USER, "--description", "CTA CHEST"]
    start_import(ws, "slow", args, {"DEEPQ_PACS_PASSWORD": PASSWORD})  # as the panel starts it; then the page goes
    deadline = time.monotonic() + 60
    while import_state(ws, "slow").done < 24 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert import_state(ws, "slow").running and import_state(ws, "slow").done == 24
    with pytest.raises(ImportRefused, match="running already"):
        start_import(ws, "slow", args, {"DEEPQ_PACS_PASSWORD": PASSWORD})  # one import into a dataset at a time

    handed = []
    reloaded = PacsPanel(ws, imported=handed.append)  # a new page finds the import running and follows it
    assert reloaded.widget.selected_index == 0 and "Importing into slow" in reloaded.status.value
    faulty.stall = None
    faulty.released.set()
    deadline = time.monotonic() + 120
    while not handed and time.monotonic() < deadline:
        time.sleep(0.2)
    assert handed == ["slow"] and "3 studies imported into <b>slow</b> (72 instances" in reloaded.status.value
    assert reloaded.progress.value == reloaded.progress.max == 72
