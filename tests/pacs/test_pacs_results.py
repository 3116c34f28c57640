"""Results back to the PACS (STOW-RS) against the real Orthanc: a study model's calls as a structured report and a
segmentation model's masks as a DICOM SEG, each filed under the patient's own study (not the de-identified copy),
referencing its source instances, marked as a research result of that model, and read back from the server with
highdicom; a result the server's policy drops is named, and a study already sent is not sent twice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

import deepq_widgets as dq
from deepq_widgets.cli import main
from deepq_widgets.evaluations import read_card
from deepq_widgets.pacs.importer import import_studies
from deepq_widgets.pacs.origin import NotFromPacs, origin_of
from deepq_widgets.pacs.results import RESEARCH, _resized
from deepq_widgets.pacs.search import search_studies
from deepq_widgets.training.export import named_slices, predict, studies_at
from deepq_widgets.training.to_pacs import send_results
from deepq_widgets.workspace import WorkspacePaths
from tests.pacs_server import PASSWORD, REFUSES_REPORTS_OF, USER
from tests.training.conftest import run_in_process, spec_json

from .test_pacs_import import EMBOLISM, LABELS

pytestmark = pytest.mark.slow
SMALL = ["--flow", "general", "--tuning", "manual", "--image-size", "32", "--epochs", "1", "--batch-size", "8"]


@pytest.fixture(scope="module")
def imported(writable_pacs, demo_root, tmp_path_factory):
    """A copy of the demo workspace with the PACS's three embolism studies imported (de-identified), a study model
    and a segmentation model trained briefly: (workspace, study model, segmentation model)."""
    root = tmp_path_factory.mktemp("to_pacs") / "ws"
    shutil.copytree(demo_root, root)
    ws = WorkspacePaths(root)
    import_studies(ws, writable_pacs, search_studies(writable_pacs, EMBOLISM).studies, "from_pacs", labels=LABELS)
    studies = spec_json(ws, [*SMALL, "--task", "study_label", "--dataset", "chest_cta_embolism", "--slices", "4"], "pe calls")
    organs = spec_json(ws, [*SMALL, "--task", "segmentation", "--dataset", "abdomen_organs"], "organ masks")
    models = []
    for spec in (studies, organs):
        row, _ = run_in_process(ws, spec)
        assert row.state == "finished", row.error
        models.append(row.model_id)
    return ws, *models


def _stored(server, study_uid: str, sop_uid: str) -> pydicom.Dataset:
    client = server.client()
    (found,) = client.search_for_instances(study_instance_uid=study_uid, search_filters={"SOPInstanceUID": sop_uid})
    series = pydicom.Dataset.from_json(found).SeriesInstanceUID
    return client.retrieve_instance(study_uid, series, sop_uid)


def test_a_study_models_calls_go_back_as_a_report_on_the_patients_own_study(imported, writable_pacs):
    ws, model_id, _ = imported
    report = send_results(ws, writable_pacs, model_id, dataset="from_pacs")
    assert len(report.sent) == 2 and len(report.left_out) == 1  # the PACS keeps no report of one patient
    (why,) = report.left_out.values()
    assert "acknowledged the result but does not hold it" in why

    for folder, (sent,) in report.sent.items():
        origin = origin_of(ws, "from_pacs", folder)
        kind, uid = sent.split()
        sr = hd.sr.Comprehensive3DSR.from_dataset(_stored(writable_pacs, origin.study_uid, uid))
        assert kind == "SR" and sr.StudyInstanceUID == origin.study_uid  # the PACS's study, not the copy's
        assert sr.PatientID.startswith("PE-000") and sr.PatientID != REFUSES_REPORTS_OF  # its real patient
        assert sr.SeriesDescription.startswith(RESEARCH) and sr.VerificationFlag == "UNVERIFIED"
        assert sr.DeviceSerialNumber == model_id and sr.Manufacturer == "deepq_widgets"

        (said,) = predict(ws, model_id, [ws.datasets / "from_pacs" / folder])
        (group,) = sr.content.get_image_measurement_groups()
        assert group.finding_type.meaning == said.prediction.decision
        measured = {m.name.meaning: m.value for m in group.get_measurements()}
        assert measured == pytest.approx({f"Probability of {c}": p for c, p in said.prediction.values.items()}, abs=1e-6)
        in_order = [Path(name).name for name, _ in named_slices(studies_at(ws.datasets / "from_pacs" / folder)[0])]  # patient order
        key_slices = {origin.sop_uids[in_order[i]] for i in said.prediction.key_slices}
        assert {s.referenced_sop_instance_uid for s in group.source_images} == key_slices  # the PACS's own instances

    again = dq.Workspace(ws).pacs(writable_pacs.url, USER, PASSWORD).send_results(model_id, dataset="from_pacs", progress=False)
    assert sorted(again.kept) == sorted(report.sent) and not again.sent  # not sent twice
    with pytest.raises(NotFromPacs, match="not imported from a PACS"):
        send_results(ws, writable_pacs, model_id, [ws.datasets / "chest_cta_embolism" / "PE-0000"])


def test_masks_go_back_as_a_segmentation_of_the_source_series(imported, writable_pacs, capsys, monkeypatch):
    ws, _, model_id = imported
    folder = sorted(p.name for p in (ws.datasets / "from_pacs").glob("study-*"))[0]
    monkeypatch.setenv("DEEPQ_PACS_PASSWORD", PASSWORD)
    argv = ["predict", "--workspace", str(ws.root), model_id, f"datasets/from_pacs/{folder}", "--to-pacs", "--url", writable_pacs.url]
    assert main([*argv, "--user", USER]) == 0
    sent = json.loads(capsys.readouterr().out)["sent"][folder]
    (kind, uid), origin = sent[0].split(), origin_of(ws, "from_pacs", folder)
    seg = hd.seg.Segmentation.from_dataset(_stored(writable_pacs, origin.study_uid, uid))
    assert kind == "SEG" and seg.StudyInstanceUID == origin.study_uid and seg.SeriesDescription.startswith(RESEARCH)
    assert [s.SegmentLabel for s in seg.SegmentSequence] == read_card(ws, model_id).classes == ["liver", "kidney"]
    assert seg.SegmentSequence[0].SegmentAlgorithmName == "organ masks" and seg.DeviceSerialNumber == model_id
    assert {u for _, _, u in seg.get_source_image_uids()} <= set(origin.sop_uids.values())

    said = predict(ws, model_id, [ws.datasets / "from_pacs" / folder])  # a mask a slice
    sources = [origin.sop_uids[Path(one.prediction.image).name] for one in said]
    masks = seg.get_pixels_by_source_instance(sources, combine_segments=True, assert_missing_frames_are_empty=True)
    for mask, one in zip(masks, said, strict=True):
        np.testing.assert_array_equal(mask, _resized(one.mask, mask.shape[0], mask.shape[1]))  # each slice's mask, in its pixels

    assert main([*argv, "--user", USER]) == 0 and json.loads(capsys.readouterr().out)["kept"] == [folder]  # not twice
    monkeypatch.delenv("DEEPQ_PACS_PASSWORD")
    assert main([*argv, "--user", USER, "--again"]) == 2  # sent again, without a password: refused, and said
    assert "refused the credentials as 'deepq' (HTTP 401)" in capsys.readouterr().err


def test_the_models_tab_sends_a_pacs_datasets_results_back(imported, writable_pacs, monkeypatch):
    from deepq_widgets.widgets.pacs_send import PacsSend

    monkeypatch.delenv("DEEPQ_PACS_PASSWORD", raising=False)
    ws, _, model_id = imported
    box = PacsSend(ws)
    box.show_for(model_id, "chest_cta_embolism")
    assert box.widget.layout.display == "none"  # not from a PACS: nowhere to send to
    box.show_for(model_id, "from_pacs")
    assert box.widget.layout.display is None
    box.login.url.value, box.login.user.value, box.login.password.value = writable_pacs.url, USER, PASSWORD
    box.again.value = True  # whatever the other tests sent
    seen = []
    box.progress.observe(lambda change: seen.append(change["new"]), "value")
    box._send()
    assert "3 result objects sent for 3 studies of <b>from_pacs</b>" in box.status.value and seen[-1] == box.progress.max == 3
    assert not any(PASSWORD.encode() in p.read_bytes() for p in ws.pacs.rglob("*") if p.is_file())
