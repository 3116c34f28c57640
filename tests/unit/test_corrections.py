"""A reviewer's label decisions: kept beside the dataset, never in label.csv, applied only when a task asks."""

import pytest

from deepq_widgets.data.catalog import scan_dataset
from deepq_widgets.data.corrections import CORRECTIONS, Correction, read_corrections, record_corrections


def test_decisions_are_recorded_beside_the_dataset_and_applied_only_when_asked(demo_copy):
    folder = demo_copy.datasets / "ultrasound_lesions"
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    plain = scan_dataset(demo_copy, "ultrasound_lesions")
    first, second = sorted((folder / "benign").glob("*.png"))[:2]
    decisions = [
        Correction(first.relative_to(folder).as_posix(), "benign", "malignant"),
        Correction(second.relative_to(folder).as_posix(), "benign", "benign"),  # kept as it is
    ]
    path = record_corrections(folder, decisions, plain.classes)
    assert path == folder / CORRECTIONS and all(p.read_bytes() == b for p, b in before.items())  # nothing else touched
    assert read_corrections(folder)[decisions[0].image].relabels and not read_corrections(folder)[decisions[1].image].relabels
    assert scan_dataset(demo_copy, "ultrasound_lesions").class_counts == plain.class_counts  # not asked: the given labels
    corrected = scan_dataset(demo_copy, "ultrasound_lesions", corrected=True)
    assert corrected.corrected == 1
    assert corrected.class_counts["benign"] == plain.class_counts["benign"] - 1
    assert corrected.class_counts["malignant"] == plain.class_counts["malignant"] + 1
    record_corrections(folder, [Correction(decisions[0].image, "benign", "benign")], plain.classes)  # changed mind: replaced
    assert len(read_corrections(folder)) == 2 and scan_dataset(demo_copy, "ultrasound_lesions", corrected=True).corrected == 0


def test_a_decision_outside_the_dataset_or_its_classes_is_refused(demo_copy):
    folder = demo_copy.datasets / "ultrasound_lesions"
    with pytest.raises(ValueError, match="not a class"):
        record_corrections(folder, [Correction("benign/benign_001.png", "benign", "cyst")], ["benign", "malignant", "normal"])
    with pytest.raises(ValueError, match="not an image of this dataset"):
        record_corrections(folder, [Correction("../other/x.png", "benign", "normal")], ["benign", "malignant", "normal"])
    assert not (folder / CORRECTIONS).exists()
