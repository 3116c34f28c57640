"""A model no better than chance is said to be so wherever it is shown: the monitor, the model list, its page."""

import numpy as np

from deepq_widgets.app import build_app
from deepq_widgets.contracts import Metrics, ModelCard, Progress
from deepq_widgets.spec import parse_spec
from deepq_widgets.store import Store
from deepq_widgets.training.metrics import single_label
from tests.training.conftest import general_spec


def guessing_metrics() -> Metrics:
    scores = np.tile([0.50, 0.51, 0.52], 8)  # the same few scores whatever the truth
    return single_label(np.c_[1 - scores, scores], np.repeat([0, 1], 12), ["benign", "malignant"], with_intervals=True)


def test_a_chance_level_model_is_flagged_in_the_monitor_the_model_list_and_its_page(demo_copy, capsys):
    found = guessing_metrics()
    assert found.chance is not None
    spec = parse_spec(general_spec(demo_copy, capsys, "single_label", "ultrasound_lesions", "guessing"))
    store = Store(demo_copy.db_path)
    task_id = store.submit(spec)
    store.update_progress(task_id, Progress(progress=1.0, metrics=found.flat()))
    store.add_model(
        ModelCard(
            id="guessing-t1",
            name="guessing",
            task="single_label",
            arch="tf_efficientnet_lite0.in1k",
            classes=["benign", "malignant"],
            image_size=64,
            channels=3,
            mean=[0.5] * 3,
            std=[0.25] * 3,
            metrics=found,
            dataset="ultrasound_lesions",
            source_task=task_id,
        )
    )
    app = build_app(demo_copy, start_worker=False)
    try:
        app.follow(task_id)
        app.monitor.update(store)
        assert "Not shown better than chance" in app.monitor.status.value
        app.models.refresh()
        assert app.models.choice.options[0][0].endswith("⚠ not shown better than chance")
        assert "not shown better than chance" in app.models.info.value  # the All models table's warnings column
        app.models.choice.value = "guessing-t1"
        assert "Not shown better than chance: the AUROC" in app.models.evaluations.value  # the headline card
    finally:
        app.close()
