"""Label review end to end on a real run: labels flipped on purpose are found (`deepq label-issues`), the review
view shows them, the reviewer's decisions reach label_corrections.csv, and the task runs again on them."""

import json
import os
import random
import shutil

import pytest

from deepq_widgets.cli import main
from deepq_widgets.contracts import StatusEvent
from deepq_widgets.data.corrections import read_corrections
from deepq_widgets.store import Store
from deepq_widgets.widgets.label_review import LabelReview
from tests.training.conftest import general_spec, run_in_process

pytestmark = pytest.mark.slow
CLASSES = ("benign", "malignant", "normal")


def flip_labels(folder, share: float, seed: int) -> set[str]:
    """Move a share of the images into another class's folder: their label is then wrong, on purpose."""
    rng, flipped = random.Random(seed), set()
    images = sorted(folder.glob("*/*.png"))
    for image in rng.sample(images, round(share * len(images))):
        wrong = rng.choice([c for c in CLASSES if c != image.parent.name])
        shutil.move(image, folder / wrong / image.name)
        flipped.add(f"{wrong}/{image.name}")
    return flipped


def test_flipped_labels_are_found_reviewed_and_the_task_reruns_on_the_corrections(demo_copy, capsys):
    folder = demo_copy.datasets / "ultrasound_lesions"
    flipped = flip_labels(folder, 0.1, seed=0)
    spec = general_spec(demo_copy, capsys, "single_label", "ultrasound_lesions", "noisy", hyper__epochs=2, image_size=64)
    row, store = run_in_process(demo_copy, spec)
    assert row.state == "finished", row.error
    assert main(["label-issues", "--workspace", str(demo_copy.root), str(row.id), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    flagged = [issue["case"] for issue in found["issues"]]
    assert found["examined"] == 120 and "logistic regression" in found["source"]
    hits = len(flipped & set(flagged))
    assert hits / len(flipped) >= 0.6 and hits / len(flagged) >= 0.5, (hits, len(flagged))  # recall and precision
    assert all(issue["given"] != issue["suggested"] for issue in found["issues"])

    review = LabelReview(demo_copy)
    review.show(store.task(row.id))  # what was found is read back from the task folder
    assert f"{len(flagged)} likely label errors" in review.status.value and len(review.cards.children) == min(len(flagged), 24)
    assert review.save.disabled and review.rerun.disabled and not review.find.disabled
    first, second = flagged[:2]
    suggested = {i["case"]: i["suggested"] for i in found["issues"]}
    review.choices[first].value = suggested[first]  # relabel as suggested
    review.choices[second].value = second.split("/")[0]  # keep the given label
    assert not review.save.disabled
    review.save.click()
    saved = read_corrections(folder)
    assert saved[first].label == suggested[first] and not saved[second].relabels and "2 decisions saved" in review.status.value
    assert "likely label errors" in review.status.value  # what was found stays said above what was done
    assert (folder / "label.csv").exists() is False and (folder / first).is_file()  # the dataset itself is untouched
    review.rerun.click()
    (rerun,) = [t for t in store.tasks() if t.id != row.id]
    assert rerun.name == "noisy corrected" and rerun.spec.label_corrections and rerun.spec.seed == row.spec.seed
    assert "submitted" in review.status.value

    assert main(["relabel", "--workspace", str(demo_copy.root), "ultrasound_lesions", second, "cyst"]) == 2  # not a class
    assert "not a class" in capsys.readouterr().err

    answers = demo_copy.root / "answers.json"  # the paper card of the noisy model says what was found, and the author's answers
    answers.write_text(json.dumps({"intended_use": "Research on label noise."}))
    assert main(["card", "--workspace", str(demo_copy.root), row.model_id, "--answers", str(answers), "--html", "card.html"]) == 0
    card = capsys.readouterr().out
    assert f"{len(flagged)} of 120 cases have a likely label error" in card and "Research on label noise." in card
    assert "<h2>Label quality</h2>" in (demo_copy.root / "card.html").read_text()
    assert "Intended use: the clinical setting" not in card and "Reference standard: how each label" in card
    corrected = Store(demo_copy.db_path)
    from deepq_widgets.training.runner import run_task

    run_task(demo_copy, corrected, corrected.claim_next(os.getpid()))
    assert corrected.task(rerun.id).state == "finished"
    said = [e.message for e in corrected.events(rerun.id, StatusEvent)]
    assert "Labels of 1 cases from the dataset's label_corrections.csv (a reviewer's decisions)" in said
