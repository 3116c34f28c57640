"""A kind registered in the test's process plugs into the runner, evaluation and prediction without touching any other module."""

import json

import pytest

from deepq_widgets import kinds
from deepq_widgets.cli import main
from deepq_widgets.contracts import Evaluation
from deepq_widgets.training.export import predict
from tests.training import toy_kind
from tests.training.conftest import general_spec, run_in_process

pytestmark = pytest.mark.slow


@pytest.fixture
def any_finding():
    kinds.register(toy_kind.KIND)
    yield toy_kind.KIND
    kinds.unregister(toy_kind.KIND.name)


def test_a_registered_kind_is_offered_trained_evaluated_and_predicted(any_finding, demo_copy, capsys):
    assert main(["datasets", "--workspace", str(demo_copy.root), "--task", "any_finding", "--json"]) == 0
    fits = {d["name"]: d["fit"] for d in json.loads(capsys.readouterr().out)}
    assert fits["ultrasound_lesions"] and not fits["lung_nodules"]  # its pure part decides which data fit

    spec = general_spec(
        demo_copy, capsys, "any_finding", "ultrasound_lesions", "finding", image_size=64, hyper__epochs=3, hyper__early_stop=False
    )
    row, _store = run_in_process(demo_copy, spec)
    assert row.state == "finished", f"{row.error}\n{row.traceback}"
    assert set(row.metrics) == {"auroc", "accuracy"} and row.metrics["auroc"] > 0.7  # chance: 0.5
    evaluation = Evaluation.model_validate_json((demo_copy.task_dir(row.id) / "evaluation.json").read_text())
    assert evaluation.task == "any_finding" and evaluation.metrics.headline["auroc"] == row.metrics["auroc"]
    image = next((demo_copy.datasets / "ultrasound_lesions" / "malignant").glob("*.png"))
    (result,) = predict(demo_copy, row.model_id, [image])
    assert 0.0 <= result.prediction.values["finding"] <= 1.0 and result.prediction.summary.startswith("finding")


def test_an_unregistered_kind_is_refused_with_close_matches():
    from deepq_widgets.spec import SpecError, parse_spec

    with pytest.raises(SpecError, match="unknown task kind 'detektion'.*did you mean detection"):
        parse_spec({"task": "detektion"})
