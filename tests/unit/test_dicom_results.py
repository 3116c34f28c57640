"""The DICOM objects results go back to a PACS as, written from typed predictions and read back with highdicom from
bytes (no server here; tests/pacs/test_pacs_results.py sends them to a real one): a detector's boxes as planar
regions in the source image's pixels, a multi-label call as each class present or absent, a regression's value under
its own name, a segmentation with nothing found still one frame a source."""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
import pydicom
from pydicom.data import get_testdata_file

from deepq_widgets import kinds
from deepq_widgets.contracts import FoundBox, Prediction
from deepq_widgets.pacs.results import RESEARCH, Author, segmentation, structured_report

AUTHOR = Author(name="nodule finder", model_id="nodule-finder-t7", task_id=7, arch="tf_efficientnet_lite0.in1k", software="1.0")


def _source() -> pydicom.Dataset:
    return pydicom.dcmread(get_testdata_file("CT_small.dcm"), stop_before_pixels=True)  # 128 x 128, another writer's


def _read_back(ds: pydicom.Dataset) -> pydicom.Dataset:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


def test_boxes_become_regions_in_the_source_pixels_and_the_report_names_its_model():
    source = _source()
    found = Prediction(image="x", values={"nodule": 1.0}, boxes=[FoundBox(label="nodule", score=0.8, box=[8.0, 16.0, 24.0, 32.0])])
    ds = structured_report(AUTHOR, kinds.get("detection").value_name, ["nodule"], [(found, [source])], [source], image_size=64)
    sr = hd.sr.Comprehensive3DSR.from_dataset(_read_back(ds))
    assert sr.SeriesDescription == f"{RESEARCH} nodule finder" and sr.VerificationFlag == "UNVERIFIED"
    assert sr.StudyInstanceUID == source.StudyInstanceUID and sr.PatientID == source.PatientID
    (region,) = sr.content.get_planar_roi_measurement_groups()
    assert region.finding_type.meaning == "nodule"
    corners = region.roi.value  # network pixels (a 64 px square) scaled to the 128 x 128 source
    np.testing.assert_allclose(corners, [[16, 32], [48, 32], [48, 64], [16, 64], [16, 32]])
    assert [(m.name.meaning, m.value) for m in region.get_measurements()] == [("Detection score", 0.8)]
    (counts,) = sr.content.get_image_measurement_groups()
    assert [(m.name.meaning, m.value) for m in counts.get_measurements()] == [("Number of nodule found", 1.0)]


def test_a_multi_label_call_is_each_class_present_or_absent_and_a_regression_keeps_its_name():
    source = _source()
    called = Prediction(image="x", decision="effusion, nodule", values={"effusion": 0.9, "nodule": 0.7, "mass": 0.1})
    measured = Prediction(image="y", values={"diameter_mm": 12.5})
    classes = ["effusion", "nodule", "mass"]
    ds = structured_report(AUTHOR, kinds.get("multi_label").value_name, classes, [(called, [source])], [source], 64)
    (group,) = hd.sr.Comprehensive3DSR.from_dataset(_read_back(ds)).content.get_image_measurement_groups()
    said = {q.name.meaning: q.value.meaning for q in group.get_qualitative_evaluations()}
    assert said == {"effusion": "Present", "nodule": "Present", "mass": "Absent"} and group.finding_type is None
    ds = structured_report(AUTHOR, kinds.get("regression").value_name, ["diameter_mm"], [(measured, [source])], [source], 64)
    (group,) = hd.sr.Comprehensive3DSR.from_dataset(_read_back(ds)).content.get_image_measurement_groups()
    assert [(m.name.meaning, m.value) for m in group.get_measurements()] == [("diameter_mm", 12.5)]
    assert not group.get_qualitative_evaluations()  # no call to make


def test_a_segmentation_that_found_nothing_still_says_so_for_every_source():
    sources = [_source()]
    seg = hd.seg.Segmentation.from_dataset(_read_back(segmentation(AUTHOR, ["liver"], np.zeros((1, 64, 64), np.uint8), sources)))
    assert seg.NumberOfFrames == 1 and not seg.pixel_array.any()
    assert seg.SegmentSequence[0].SegmentLabel == "liver" and seg.ContentLabel == "DEEPQ"
