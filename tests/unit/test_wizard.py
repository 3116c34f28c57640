"""The wizard state machine in all three flows, with no widgets."""

import pytest

from deepq_widgets.context import CatalogCache
from deepq_widgets.contracts import ModelCard
from deepq_widgets.presets import load_presets
from deepq_widgets.spec import SpecError
from deepq_widgets.wizard import Recommendation, Step, Wizard, WizardContext

ICH = ModelCard(
    id="m1",
    name="ich v1",
    task="multi_label",
    arch="tf_efficientnet_lite0.in1k",
    classes=["subarachnoid", "subdural", "epidural", "intraparenchymal", "intraventricular"],
    image_size=160,
    channels=3,
    windows=["brain", "subdural", "bone"],
    mean=[0.5] * 3,
    std=[0.5] * 3,
    dataset="head_ct_hemorrhage",
)


def fake_recommend(task, modality, size):
    return Recommendation(
        model=["tf_efficientnet_lite0.in1k", "tf_efficientnet_lite2.in1k"][size > 3],
        image_size=224,
        batch_size=32,
        lr=1e-3,
        reason="because",
    )


@pytest.fixture
def wizard(demo_ws):
    ctx = WizardContext(
        datasets=CatalogCache(demo_ws),
        presets=load_presets(),
        base_models=lambda: {"m1": ICH},
        known_arch=lambda a: a.startswith("tf_efficientnet"),
        taken_names=lambda: {"taken"},
        recommend=fake_recommend,
    )
    return Wizard(ctx)


def test_flow_step_needs_a_choice(wizard):
    assert wizard.state.step is Step.flow and wizard.next() == "Choose a training flow."
    wizard.update(flow="general")
    assert wizard.next() is None and wizard.state.step is Step.task


def test_general_flow_end_to_end(wizard):
    seen = []
    wizard.observe(lambda w: seen.append(w.state.step))
    wizard.update(flow="general")
    wizard.next()
    assert [s for s, _, _ in wizard.progress()] == [Step.flow, Step.task, Step.dataset, Step.model, Step.start]
    assert wizard.next() == "Choose a task type."
    wizard.update(task="single_label")
    wizard.next()
    fitting, unfit = wizard.dataset_choices()
    assert set(fitting) == {"ultrasound_lesions", "chest_xray_pneumothorax", "thyroid_nodules", "thyroid_nodules_test"}
    assert "annotated for study-label" in unfit["chest_cta_embolism"]  # its cases are studies
    assert "annotated for detection" in unfit["lung_nodules"]
    wizard.update(dataset="lung_nodules")
    assert "annotated for detection" in wizard.next()
    wizard.update(dataset="ultrasound_lesions")
    assert wizard.next() is None and wizard.title(Step.model) == "Model"
    wizard.set_auto(modality="Other", size=5)
    assert wizard.recommendation().model == "tf_efficientnet_lite2.in1k"
    wizard.next()
    assert wizard.next() == "A task name is required."
    wizard.update(name="taken")
    assert "already exists" in wizard.next()
    wizard.update(name="lesions v1", description="first try", seed=7)
    spec = wizard.spec()
    assert (spec.flow.value, spec.task, spec.dataset, spec.model.arch, spec.image_size, spec.seed) == (
        "general",
        "single_label",
        "ultrasound_lesions",
        "tf_efficientnet_lite2.in1k",
        224,
        7,
    )
    assert spec.auto.size == 5 and spec.tuning.value == "auto"
    assert [s for s, _, status in wizard.progress() if status == "done"] == [Step.flow, Step.task, Step.dataset, Step.model]
    assert seen and seen[-1] is Step.start


def test_general_manual_needs_a_known_network(wizard):
    from deepq_widgets.spec import ModelChoice

    wizard.update(flow="general", task="detection", dataset="lung_nodules", tuning="manual", step=Step.model)
    assert wizard.draft.model.arch == "tf_efficientnet_lite0.in1k"  # Full Manual starts from the recommendation
    wizard.update(model=ModelChoice())
    assert wizard.step_problem(Step.model) == "Choose a network."

    wizard.update(model=ModelChoice(arch="resnet18.a1_in1k"))
    assert wizard.step_problem(Step.model) == "Unknown network 'resnet18.a1_in1k'."
    wizard.update(model=ModelChoice(arch="tf_efficientnet_lite0.in1k", pretrain="none"))
    wizard.set_hyper(epochs=3, schedule="step")
    wizard.update(name="nodules")
    spec = wizard.spec()
    assert spec.model.pretrain == "none" and spec.hyper.epochs == 3 and spec.tuning.value == "manual"


def test_out_of_range_hyperparameter_is_refused_with_range(wizard):
    with pytest.raises(SpecError, match="batch_size must be between 1 and 256"):
        wizard.set_hyper(batch_size=0)
    assert wizard.draft.hyper.batch_size == 32


def test_the_draft_is_checked_field_by_field_and_whole_only_at_the_end(wizard):
    wizard.update(flow="general")
    with pytest.raises(SpecError, match=r"image_size must be between 32 and 1024 \(got 5\)"):
        wizard.update(image_size=5)
    with pytest.raises(AttributeError, match="unknown task field 'colour'"):
        wizard.update(colour="red")
    assert wizard.draft.image_size == 224 and wizard.draft.task is None  # a half-filled draft, no whole-spec check yet
    wizard.update(task="detection", dataset="lung_nodules", tuning="manual", name="n")
    assert wizard.draft.model.arch  # Full Manual filled in the network from Auto select
    assert wizard.spec().model.arch == wizard.draft.model.arch


def test_full_manual_starts_from_autos_plan_and_warns_of_flips_from_the_datasets_own_modality(wizard):
    """Full Manual starts from the run Auto would plan for this data (no flips on CT, 10° of rotation), and warns
    by the field when a choice contradicts the modality, which the DICOM headers say (here CT) as Manual never asks."""
    wizard.update(flow="general", task="study_label", dataset="chest_cta_embolism", step=Step.model)
    planned = wizard.planned_settings()
    wizard.update(tuning="manual")
    d = wizard.draft
    assert d.auto.modality.value == "Other" and not d.augment.hflip and d.augment.rotate_deg <= 15 and wizard.warnings() == {}
    assert (d.augment, d.hyper, d.image_size, d.model.arch) == (
        planned["augment"],
        planned["hyper"],
        planned["image_size"],
        planned["model"].arch,
    )
    wizard.set_augment(hflip=True, rotate_deg=180)
    assert "left and right anatomy differ" in wizard.warnings()["hflip"] and "180°" in wizard.warnings()["rotate_deg"]
    wizard.update(dataset="ultrasound_lesions")  # PNG files: no modality known, no claim
    assert "hflip" not in wizard.warnings()


def test_specialized_flow_fixes_network_and_checks_the_dataset(wizard):
    wizard.update(flow="specialized")
    wizard.next()
    assert wizard.progress()[1][1] == "Preset" and wizard.next() == "Choose a preset."
    wizard.update(preset="pneumothorax")
    assert wizard.draft.augment.hflip is False and wizard.draft.image_size == 160
    wizard.next()
    fitting, unfit = wizard.dataset_choices()
    assert fitting == ["chest_xray_pneumothorax"]
    assert "annotated for study-label" in unfit["chest_cta_embolism"]
    assert "needs DICOM images" in unfit["ultrasound_lesions"]
    wizard.update(dataset="chest_xray_pneumothorax")
    wizard.next()
    assert wizard.title(Step.model) == "Hyperparameter" and wizard.can_next
    wizard.update(augment=wizard.draft.augment.model_copy(update={"hflip": True}))
    assert "left and right anatomy differ" in wizard.warnings()["hflip"]
    assert "rotate_deg" not in wizard.warnings()  # the preset rotates 10°
    wizard.set_augment(rotate_deg=180)
    assert "Rotation up to 180° is on" in wizard.warnings()["rotate_deg"]
    assert "saturation" not in wizard.warnings()  # the preset sets it to 0
    wizard.set_augment(saturation=0.2)
    assert "no effect on single-channel" in wizard.warnings()["saturation"]
    wizard.next()
    wizard.update(name="ptx")
    spec = wizard.spec()
    assert spec.preset == "pneumothorax" and spec.model.arch == "tf_efficientnet_lite0.in1k" and spec.windows == ["file"]


def test_retrain_flow_starts_from_the_model(wizard):
    wizard.update(flow="retrain")
    wizard.next()
    wizard.update(base_model="m1")
    assert wizard.task_type() == "multi_label"
    wizard.next()
    fitting, unfit = wizard.dataset_choices()
    assert fitting == ["head_ct_hemorrhage"] and "differ from the base model's" in unfit["fundus_findings"]
    wizard.update(dataset="head_ct_hemorrhage", tuning="manual")
    wizard.next()
    wizard.next()
    wizard.update(name="ich again")
    spec = wizard.spec()
    assert spec.model.base_model == "m1" and spec.model.arch == ICH.arch and spec.image_size == 160 and spec.windows == ICH.windows


def test_back_and_changing_flow_resets_later_choices(wizard):
    wizard.update(flow="general", task="segmentation", dataset="abdomen_organs")
    wizard.next()
    wizard.next()
    assert wizard.state.step is Step.dataset
    wizard.back()
    assert wizard.state.step is Step.task
    wizard.update(flow="specialized")
    assert wizard.draft.dataset is None and wizard.draft.task is None and wizard.state.step is Step.preset
    wizard.back()
    assert wizard.state.step is Step.flow
    wizard.back()
    assert wizard.state.step is Step.flow


def test_spec_lists_every_invalid_step(wizard):
    wizard.update(flow="general")
    with pytest.raises(SpecError) as err:
        wizard.spec()
    assert err.value.problems == [
        "Task type: Choose a task type.",
        "Dataset: Choose a dataset.",
        "Model: Choose the task first.",
        "Start: A task name is required.",
    ]


def test_go_to_refuses_to_skip_invalid_steps(wizard):
    wizard.update(flow="general")
    assert wizard.go_to(Step.start) == "Task type: Choose a task type."
    wizard.update(task="single_label", dataset="ultrasound_lesions")
    assert wizard.go_to(Step.start) is None and wizard.state.step is Step.start
