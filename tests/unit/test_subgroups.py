"""Results by subgroup, on data whose subgroups differ by construction, and the attributes they are read from:
label.csv columns beyond the label, and DICOM headers written by another library (pydicom's test files)."""

from pathlib import Path

import numpy as np
from pydicom.data import get_testdata_file

from deepq_widgets.contracts import CaseScores
from deepq_widgets.data.attributes import age_band, case_attributes, dicom_attributes
from deepq_widgets.data.catalog import scan_dataset
from deepq_widgets.training.subgroups import subgroup_figures


def scores_by_site(seed: int = 0) -> tuple[CaseScores, list[dict[str, str]]]:
    """Site A's cases are told apart well, site B's by chance; sex makes no difference."""
    rng = np.random.default_rng(seed)
    truth = np.tile([0, 1], 60)
    site = np.repeat(["A", "B"], 60)
    signal = np.where(site == "A", truth * 0.8 + rng.random(120) * 0.2, rng.random(120))
    attributes = [{"site": s, "sex": "F" if k % 3 else "M"} for k, s in enumerate(site)]
    probs = np.c_[1 - signal, signal]
    scores = CaseScores(
        cases=[f"c{k}" for k in range(120)], classes=["normal", "nodule"], truth=truth.tolist(), probabilities=probs.tolist()
    )
    return scores, attributes


def test_a_subgroup_far_below_the_rest_is_flagged_and_one_that_is_not_is_not():
    scores, attributes = scores_by_site()
    found = {(g.attribute, g.value): g for g in subgroup_figures(scores, attributes, [0.5, 0.5])}
    assert set(found) == {("site", "A"), ("site", "B"), ("sex", "F"), ("sex", "M")}
    a, b = found[("site", "A")], found[("site", "B")]
    assert a.metrics.cases == b.metrics.cases == 60
    assert a.metrics.headline["auroc"] == 1.0 and b.metrics.intervals["auroc"][0] < 0.5 < b.metrics.intervals["auroc"][1]
    assert b.warning.startswith("Far below the other cases: AUROC") and a.warning is None
    assert found[("sex", "F")].warning is None and found[("sex", "M")].warning is None
    assert all(g.metrics.intervals["accuracy"][0] <= g.metrics.headline["accuracy"] for g in found.values())


def test_identifiers_and_tiny_groups_are_not_broken_down():
    scores, attributes = scores_by_site()
    for k, a in enumerate(attributes):
        a["patient_id"] = f"p{k}"  # a value per case: not a group
        a["scanner"] = "X" if k < 118 else "Y"  # Y has two cases: too few to show
    found = subgroup_figures(scores, attributes, None)
    assert {g.attribute for g in found} == {"site", "sex", "scanner"} and {g.value for g in found if g.attribute == "scanner"} == {"X"}


def test_attributes_come_from_label_csv_columns_and_dicom_headers(demo_copy):
    ct = Path(get_testdata_file("CT_small.dcm"))
    assert dicom_attributes(ct) == {
        "Manufacturer": "GE MEDICAL SYSTEMS",
        "ManufacturerModelName": "RHAPSODE",
        "InstitutionName": "JFK IMAGING CENTER",
        "PatientSex": "O",
        "PatientAge": "0–9 y",
        "SliceThickness": "3–5 mm",
        "KVP": "120 kV",
    }
    assert age_band("045Y") == "40–49 y" and age_band("018M") == "0–9 y" and age_band("unknown") == ""
    folder = demo_copy.datasets / "sited"
    (folder / "images").mkdir(parents=True)
    source = sorted((demo_copy.datasets / "ultrasound_lesions" / "benign").glob("*.png"))[:2]
    for k, image in enumerate(source):
        (folder / "images" / f"{k}.png").write_bytes(image.read_bytes())
    (folder / "label.csv").write_text("path,class,site,sex\nimages/0.png,benign,Taipei,F\nimages/1.png,malignant,Boston,\n")
    cases = {Path(c.image).name: c for c in scan_dataset(demo_copy, "sited").usable}
    assert case_attributes(cases["0.png"]) == {"site": "Taipei", "sex": "F"}
    assert case_attributes(cases["1.png"]) == {"site": "Boston"}  # an empty cell is no value
