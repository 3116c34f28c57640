"""Headless widget tests: set values, click, and check the wizard state, Next and the reasons."""

import base64
import json
import re
import time

from deepq_widgets.contracts import Metrics, ModelCard
from deepq_widgets.devices import has_gpu
from deepq_widgets.spec import TaskSpec
from deepq_widgets.store import Store
from deepq_widgets.widgets import start_step
from deepq_widgets.wizard import Step
from tests.widgets.conftest import card_button


def nav(app):
    return app.shell.next.disabled, app.shell.reason.value


def test_first_display_is_fast_and_needs_no_torch(demo_copy):
    import subprocess
    import sys

    code = (
        "import time, sys; t = time.perf_counter(); from deepq_widgets import build_app; "
        f"app = build_app({str(demo_copy.root)!r}, start_worker=False); "
        "print(time.perf_counter() - t, 'torch' in sys.modules, 'fastai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert float(out[0]) < 3.0 and out[1:] == ["False", "False"]


def test_general_flow_every_step(app, monkeypatch):
    views = app.views
    assert app.wizard.state.step is Step.flow and nav(app) == (True, "<span class='dq-reason'>Choose a training flow.</span>")
    card_button(views[Step.flow], "general").click()
    assert "dq-card-on" in views[Step.flow].cards["general"]._dom_classes and not app.shell.next.disabled
    app.shell.next.click()
    assert app.wizard.state.step is Step.task and app.shell.next.disabled
    assert "✓ Flow" in app.shell.indicator.value and "● Task type" in app.shell.indicator.value and "○ Start" in app.shell.indicator.value
    card_button(views[Step.task], "detection").click()
    app.shell.next.click()
    ds = views[Step.dataset]
    assert [v for _, v in ds.choice.options] == [None, "lung_nodules", "polyps_coco"]
    assert "fundus_findings" in ds.unfit.value and "annotated for multi-label" in ds.unfit.value
    assert app.shell.next.disabled and "Choose a dataset" in app.shell.reason.value
    assert ds.preview.layout.display == "none" and ds.pager.layout.display == "none"  # no empty image, no pager yet
    ds.choice.value = "lung_nodules"
    assert ds.preview.value[:4] == b"\x89PNG" and "page 1 of 5" in ds.page_label.value
    assert ds.preview.layout.display is None and ds.pager.layout.display is None
    ds.next_btn.click()
    assert "page 2 of 5" in ds.page_label.value
    assert "120</b> usable cases" in ds.summary.value
    app.shell.next.click()
    model = views[Step.model]
    assert "Recommended: tf_efficientnet_lite" in model.recommendation.value and not app.shell.next.disabled
    assert "On the network: an FCOS detection head" in model.recommendation.value
    assert f"at {app.wizard.planned_settings()['image_size']} px" in model.recommendation.value  # the size the plan uses
    assert model.ensemble.layout.display == "none"  # detections are not averaged into an ensemble
    assert model.manual.layout.display is None  # and Full Manual stays within reach
    model.size.value, model.modality.value = 5, "X-ray"
    assert (
        app.wizard.draft.auto.size == 5
        and "tf_efficientnet_lite2" in model.recommendation.value
        and "left and right" in model.recommendation.value
    )
    app.shell.next.click()
    start = views[Step.start]
    assert start.start.disabled and "A task name is required" in start.check.value
    assert "Object detection" in start.summary.value and "Complete the earlier steps" not in start.summary.value  # before a name
    assert start.download.value == ""  # no task file without a name
    assert app.shell.nav.children[:2] == (app.shell.back, start.start)  # Start beside Back, where Next was
    start.name.value = "nodules e2e"
    assert "✓ name available" in start.check.value and not start.start.disabled
    assert "download=" in start.download.value and "Object detection" in start.summary.value
    # the task file offered first is the one that will run: Full Manual with the settings "What will run" shows
    files = dict(re.findall(r"download='([^']+)' href='data:application/json;base64,([^']+)'", start.download.value))
    will_run = TaskSpec.from_json(base64.b64decode(files["nodules e2e.json"]).decode())
    h = will_run.hyper
    assert (
        will_run.tuning.value == "manual"
        and TaskSpec.from_json(base64.b64decode(files["nodules e2e.submitted.json"])).tuning.value == "auto"
    )
    assert f"{will_run.image_size} px, batch {h.batch_size}, up to {h.epochs} epochs, lr {h.lr:g}" in start.plan.value
    assert "FCOS detection head" in start.summary.value  # the head is named, not only the backbone
    if not has_gpu():  # before any measurement: a likely range, and what it comes from (no reference exists for a GPU)
        assert re.search(r"<b>Takes about \d+ (s|min)</b> \(\d+ (s|min) to \d+ (s|min); rough: from a reference", start.duration.value)
        assert start.measure.layout.display is None  # a firm figure is a click away
    monkeypatch.setattr(start_step, "MEASURE_TIMEOUT_S", 1)  # a measurement that cannot finish (a busy machine): said
    start.measure.click()
    assert start.measure.disabled and "Measuring this machine's speed" in start.duration.value
    deadline = time.time() + 60
    while "did not finish" not in start.duration.value and time.time() < deadline:
        time.sleep(0.2)
    assert "The measurement did not finish within 1 s" in start.duration.value and not start.measure.disabled
    start.start.click()
    tasks = Store(app.workspace.db_path).tasks()
    assert [t.name for t in tasks] == ["nodules e2e"] and tasks[0].state == "waiting"
    assert "created" in app.notice.value
    app.wizard.update(flow="specialized")  # on to the next task: the banner goes
    assert app.notice.value == ""
    spec = TaskSpec.model_validate(tasks[0].spec)
    assert spec.model.arch == "tf_efficientnet_lite2.in1k" and spec.auto.modality.value == "X-ray"
    assert app.tabs.selected_index == 1 and app.wizard.state.step is Step.flow  # ready for the next task
    assert json.loads((app.workspace.tasks / str(tasks[0].id) / "task.json").read_text())["name"] == "nodules e2e"


def test_manual_model_zoo_and_hyperparameters(app):
    app.wizard.update(flow="general", task="segmentation", dataset="abdomen_organs", step=Step.model)
    model = app.views[Step.model]
    model.manual.value = True
    assert app.wizard.draft.tuning.value == "manual" and app.wizard.draft.model.arch  # starts from the recommendation
    browser = model.browser
    start = time.perf_counter()
    browser.search.value = "resnet"
    assert time.perf_counter() - start < 0.5
    families = {f for _, f in browser.family.options}
    assert {"ResNet", "SENet"} <= families and not families & {"ViT", "Swin", "VGG"}
    browser.family.value = "ResNet"
    browser.variant.value = "resnet50"
    labels = [label for label, _ in browser.pretrain.options]
    assert any("None" in label for label in labels)
    browser.pretrain.value = ("resnet50.a1_in1k", "none")
    assert app.wizard.draft.model.arch == "resnet50.a1_in1k" and app.wizard.draft.model.pretrain == "none"
    assert "resnet50.a1_in1k" in browser.compare.value
    assert browser.comparison.selected_index is None  # the long table is folded until asked for
    form = model.form
    assert form.hyper.fields["folds"].layout.display == "none"  # a segmentation's outputs are not averaged into an ensemble
    form.hyper.fields["epochs"].value = "7"
    form.hyper.fields["schedule"].value = "step"
    assert app.wizard.draft.hyper.epochs == 7 and app.wizard.draft.hyper.schedule.value == "step"
    assert "1–256, whole number" in form.hyper.notes["batch_size"].value  # the range printed under the field
    for typed, says in (("500", "must be between 1 and 256 (got 500)"), ("12.7", "12.7 is not a whole number"), ("many", "not a number")):
        form.hyper.fields["batch_size"].value = typed
        assert says in form.hyper.notes["batch_size"].value and (
            "1–256" in form.hyper.notes["batch_size"].value or "between 1 and 256" in says
        )
        assert form.hyper.fields["batch_size"].value == typed  # left as typed, never clamped
        assert app.wizard.draft.hyper.batch_size != 500 and app.shell.next.disabled  # the step stays incomplete
    form.hyper.fields["valid_pct"].value = "150"
    assert "between 1 and 99" in form.hyper.notes["valid_pct"].value
    # beside Next: every refused field, by the label the user sees
    assert (
        "Batch size: &#x27;many&#x27; is not a number" in app.shell.reason.value
        and "Validation %: must be between 1 and 99" in app.shell.reason.value
    )
    assert "valid_pct" not in app.shell.reason.value
    form.hyper.fields["batch_size"].value = "24"
    form.hyper.fields["valid_pct"].value = "20"
    assert app.wizard.draft.hyper.batch_size == 24 and not app.shell.next.disabled
    assert "✗" not in form.hyper.notes["batch_size"].value
    assert form.image_size.field.value == str(app.wizard.draft.image_size) and "32–1024 px" in form.image_size.note.value
    form.image_size.field.value = "96"  # smaller is much faster on a CPU
    assert app.wizard.draft.image_size == 96
    form.image_size.field.value = "5000"
    assert "between 32 and 1024" in form.image_size.note.value and app.shell.next.disabled
    form.image_size.field.value = "96"
    assert not app.shell.next.disabled
    form.augment.fields["saturation"].value = "0.3"
    saturation = form.augment.warnings["saturation"]
    assert "no effect on single-channel" in saturation.value and saturation.layout.display is None  # by its field
    assert form.augment.warnings["hflip"].layout.display == "none"
    app.shell.next.click()
    app.views[Step.start].name.value = "seg manual"
    assert app.wizard.spec().hyper.epochs == 7


def test_auto_trains_an_ensemble_when_asked_and_the_start_step_says_so(app):
    app.wizard.update(flow="general", task="single_label", dataset="ultrasound_lesions", step=Step.model)
    model = app.views[Step.model]
    assert model.ensemble.layout.display is None and not model.ensemble.value
    model.ensemble.value = True
    assert app.wizard.draft.auto.ensemble
    app.shell.next.click()
    app.views[Step.start].name.value = "ensemble"
    plan = app.views[Step.start].plan.value
    assert "; a 5-fold ensemble</p>" in plan and "Final model: a 5-fold ensemble" in plan
    assert app.wizard.forecast().plan.hyper.folds == 5


def test_a_classifier_may_be_a_k_fold_ensemble_or_a_refit_never_both(app):
    app.wizard.update(flow="general", task="single_label", dataset="chest_xray_pneumothorax", step=Step.model)
    model = app.views[Step.model]
    model.manual.value = True
    hyper = model.form.hyper
    assert hyper.fields["folds"].layout.display is None and "1–10, whole number" in hyper.notes["folds"].value
    hyper.fields["folds"].value = "5"
    assert app.wizard.draft.hyper.folds == 5 and not app.shell.next.disabled
    hyper.fields["refit"].value = True
    assert not app.wizard.draft.hyper.refit and "hyper.refit" in app.wizard.state.refused and app.shell.next.disabled
    hyper.fields["refit"].value = False
    hyper.fields["folds"].value = "1"
    hyper.fields["refit"].value = True
    assert app.wizard.draft.hyper.refit and app.wizard.draft.hyper.folds == 1


def test_out_of_range_value_shows_the_reason_beside_the_field(app):
    from deepq_widgets.spec import Hyperparameters
    from deepq_widgets.widgets.hyper_form import Section

    section = Section(Hyperparameters, "hyper", app.wizard.set_hyper, app.wizard.refuse)
    section.fields["batch_size"].value = "999"
    assert "must be between 1 and 256 (got 999)" in section.notes["batch_size"].value and app.wizard.draft.hyper.batch_size == 32
    assert "hyper.batch_size" in app.wizard.state.refused


def test_specialized_flow_preset_cards_and_optimized_toggle(app):
    card_button(app.views[Step.flow], "specialized").click()
    app.shell.next.click()
    presets = app.views[Step.preset]
    assert set(presets.cards) == {"intracranial_hemorrhage", "pneumothorax", "pulmonary_embolism"}
    card = presets.cards["pneumothorax"].children[0].value
    assert "Chest X-ray" in card and "PTX, normal" in card and "DICOM" in card
    card_button(presets, "pneumothorax").click()
    app.shell.next.click()
    ds = app.views[Step.dataset]
    assert [v for _, v in ds.choice.options] == [None, "chest_xray_pneumothorax"]
    assert "annotated for study-label" in ds.unfit.value
    ds.choice.value = "chest_xray_pneumothorax"
    assert "split by patient" in ds.summary.value
    app.shell.next.click()
    model = app.views[Step.model]
    assert "Hyperparameters" in model.widget.children[0].value and model.optimized.value
    assert "Network fixed by the preset" in model.fixed.value and model.form.widget not in model.body.children
    planned = app.wizard.planned_settings()
    model.optimized.value = False
    assert app.wizard.draft.tuning.value == "manual" and model.form.widget in model.body.children
    assert model.form.hyper.fields["epochs"].value == str(planned["hyper"].epochs)  # the run Auto would plan, to adjust
    assert model.form.augment.fields["hflip"].value is False and model.form.augment.warnings["hflip"].layout.display == "none"
    model.form.augment.fields["hflip"].value = True
    assert "left and right anatomy differ" in model.form.augment.warnings["hflip"].value
    app.shell.back.click()
    assert app.wizard.state.step is Step.dataset and app.wizard.draft.dataset == "chest_xray_pneumothorax"


def test_retrain_flow_lists_registry_models(app):
    store = Store(app.workspace.db_path)
    card = ModelCard(
        id="lesions-t1",
        name="lesions",
        source_task=1,
        task="single_label",
        arch="tf_efficientnet_lite0.in1k",
        classes=["benign", "malignant", "normal"],
        image_size=96,
        channels=1,
        windows=[],
        mean=[0.5],
        std=[0.5],
        metrics=Metrics(headline={"accuracy": 0.9}),
        dataset="ultrasound_lesions",
    )
    store.add_model(card)
    app.models.refresh()
    assert (
        app.models.choice.options[0][1] == "lesions-t1" and "0.90" in app.models.info.value and "0.900" not in app.models.info.value
    )  # two decimals
    app.models.choice.value = "lesions-t1"
    app.models.retrain.click()
    assert app.tabs.selected_index == 0 and app.wizard.draft.flow.value == "retrain" and app.wizard.draft.model.base_model == "lesions-t1"
    base = app.views[Step.base_model]
    assert base.choice.value == "lesions-t1" and "trained on ultrasound_lesions" in base.info.value
    app.shell.next.click()
    assert [v for _, v in app.views[Step.dataset].choice.options] == [None, "ultrasound_lesions"]


def test_the_notebook_api_reads_a_workspace_without_torch(demo_copy):
    """Listing datasets, tasks and models and checking a task file are cheap: torch loads only to train or predict."""
    import subprocess
    import sys

    code = (
        "import sys, deepq_widgets as dq; "
        f"ws = dq.Workspace({str(demo_copy.root)!r}); ws.datasets(); ws.tasks(); ws.models(); "
        "ws.spec(task='single_label', dataset='ultrasound_lesions', name='x'); "
        "print('torch' in sys.modules, 'fastai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_devices_are_chosen_where_there_are_several_gpus(demo_copy, monkeypatch):
    """Two GPUs: a Devices choice, its value in the task file and the summary. None or one: no choice, the summary says why."""
    from deepq_widgets import build_app
    from deepq_widgets.widgets import start_step

    for gpus, shown in (([], False), (["0", "1"], True)):
        monkeypatch.setattr(start_step, "gpu_devices", lambda gpus=gpus: gpus)
        app = build_app(demo_copy, poll_interval=60, start_worker=False)
        try:
            app.wizard.update(flow="general")
            app.wizard.update(task="single_label", dataset="ultrasound_lesions", name=f"devices {len(gpus)}", step=Step.start)
            start = app.views[Step.start]
            assert (start.devices.layout.display != "none") is shown
            if shown:
                start.devices.value = 2
                assert app.wizard.draft.devices == 2 and "2 GPUs in data parallel" in start.summary.value
                assert app.wizard.spec().devices == 2
            else:
                assert app.wizard.draft.devices == 1 and "1 (the CPU)" in start.summary.value
        finally:
            app.close()


def test_regression_through_the_general_flow_auto_and_full_manual(app):
    """The fifth kind is offered, finds its dataset, recommends a network and starts, as any kind does."""
    views = app.views
    card_button(views[Step.flow], "general").click()
    app.shell.next.click()
    assert list(views[Step.task].cards)[-1] == "regression"  # shown last, by its order
    card_button(views[Step.task], "regression").click()
    app.shell.next.click()
    ds = views[Step.dataset]
    assert [v for _, v in ds.choice.options] == [None, "nodule_diameters"]
    assert "annotated for single-label" in ds.unfit.value
    ds.choice.value = "nodule_diameters"
    assert ds.preview.value[:4] == b"\x89PNG" and "120</b> usable cases" in ds.summary.value
    app.shell.next.click()
    model = views[Step.model]
    assert "scaled to the quantity&#x27;s unit" in model.recommendation.value and model.ensemble.layout.display == "none"
    model.manual.value = True  # Full Manual: the zoo and every hyperparameter
    model.form.hyper.fields["epochs"].value = "12"
    assert app.wizard.draft.hyper.epochs == 12 and not app.shell.next.disabled
    app.shell.next.click()
    start = views[Step.start]
    start.name.value = "diameter from the wizard"
    assert "Regression" in start.summary.value and not start.start.disabled
    start.start.click()
    (task,) = Store(app.workspace.db_path).tasks()
    assert (task.spec.task, task.spec.dataset, task.spec.hyper.epochs) == ("regression", "nodule_diameters", 12)


def test_a_dataset_of_studies_shows_a_study_viewer_with_a_slider(app):
    """The PE preset's studies: a strip of slices over the volume and a slider through every slice, read through
    the preset's windows; Full Manual offers the study settings only for a study kind."""
    card_button(app.views[Step.flow], "specialized").click()
    app.shell.next.click()
    card_button(app.views[Step.preset], "pulmonary_embolism").click()
    app.shell.next.click()
    ds = app.views[Step.dataset]
    assert ds.studies.widget.layout.display == "none"  # nothing chosen yet
    ds.choice.value = "chest_cta_embolism"
    viewer = ds.studies
    assert viewer.widget.layout.display is None and len(viewer.choice.options) == 40 and viewer.windows == ["pe", "mediastinum", "lung"]
    assert "40</b> usable studies" in ds.summary.value and "24 slices a study" in ds.summary.value
    assert viewer.strip.value[:4] == b"\x89PNG" and viewer.slider.max == 24 and viewer.slider.value == 13
    before = viewer.slice.value
    viewer.slider.value = 5
    assert "slice 5 of 24 · 20.0 mm" in viewer.caption.value and viewer.slice.value != before
    viewer.choice.value = 3
    assert viewer.slider.value == 13 and "PE-0003" in viewer.caption.value
    app.shell.next.click()
    model = app.views[Step.model]
    model.manual.value = True
    assert model.form.studies.layout.display is None
    fields = model.form.hyper.fields
    assert {"attention", "max", "context"} <= {str(v) for v in fields["study_model"].options}
    assert fields["context"].description.startswith("Context") and "1–2" in model.form.hyper.notes["context"].value
    app.wizard.update(flow="general", task="single_label", dataset="ultrasound_lesions", step=Step.model)
    model.manual.value = True
    assert model.form.studies.layout.display == "none"
