"""How long a plan takes: measured throughput kept in the workspace, times the plan's work."""

import pytest

from deepq_widgets.autoplan import Fingerprint, Plan
from deepq_widgets.context import CatalogCache
from deepq_widgets.duration import (
    REFERENCE_CPU,
    STARTUP_S,
    Throughput,
    estimate_seconds,
    likely_throughput,
    read_throughput,
    throughput_key,
    write_throughput,
)
from deepq_widgets.spec import Augmentation, Hyperparameters
from deepq_widgets.wizard import Wizard, WizardContext

FP = Fingerprint(cases=100, classes=2, class_counts={"a": 50, "b": 50}, native_side=64, aspect=1.0, channels=1, modality="Other")


def plan(refit: bool = False, folds: int = 1) -> Plan:
    hyper = Hyperparameters(epochs=10, batch_size=16, lr=1e-3, weight_decay=0.01, patience=4, refit=refit, folds=folds)
    return Plan(hyper, Augmentation(), image_size=64)


def test_estimate_counts_every_epoch_the_validation_passes_and_the_refit():
    speed = Throughput(train=80.0, evaluate=200.0)
    assert estimate_seconds(plan(), FP, 20, speed) == pytest.approx(STARTUP_S + 10 * (80 / 80 + 20 / 200))
    assert estimate_seconds(plan(refit=True), FP, 20, speed) - estimate_seconds(plan(), FP, 20, speed) == pytest.approx(10 * 100 / 80)
    # a 5-fold ensemble: four more fits of 80 cases, each scored on its 20 (the validation share follows the folds)
    five = estimate_seconds(plan(folds=5), FP, 30, speed) - estimate_seconds(plan(), FP, 20, speed)
    assert five == pytest.approx(4 * (10 * 80 / 80 + 20 / 200))


def test_throughput_is_kept_per_network_size_device_and_threads(ws):
    key = throughput_key("tf_efficientnet_lite0.in1k", 64, 1, 16, device="cpu", threads=2)
    assert read_throughput(ws, key) is None
    write_throughput(ws, key, Throughput(train=50.0, evaluate=150.0))
    assert read_throughput(ws, key) == Throughput(train=50.0, evaluate=150.0)
    assert read_throughput(ws, throughput_key("tf_efficientnet_lite0.in1k", 64, 1, 16, device="cpu", threads=1)) is None


def test_the_wizard_estimates_once_this_machine_is_measured(demo_ws):
    measured = {}
    wizard = Wizard(WizardContext(datasets=CatalogCache(demo_ws), throughput=measured.get))
    wizard.update(flow="general", task="single_label", dataset="ultrasound_lesions", tuning="manual", name="n")
    wizard.update(model={"arch": "tf_efficientnet_lite0.in1k"}, image_size=64)
    assert wizard.plan() is not None and wizard.estimate_seconds() is None  # not measured yet
    measured[wizard.throughput_key()] = Throughput(train=100.0, evaluate=300.0)
    assert wizard.estimate_seconds() > STARTUP_S


def test_before_any_measurement_the_speed_is_a_likely_range_and_says_where_it_comes_from(ws):
    lite0 = lambda size, device="cpu": throughput_key("tf_efficientnet_lite0.in1k", size, 1, 16, device=device, threads=2)  # noqa: E731
    reference = likely_throughput(ws, lite0(64))  # nothing measured: the reference CPU's speed, scaled by pixels
    assert reference.train == pytest.approx(REFERENCE_CPU["tf_efficientnet_lite0.in1k"] * 4) and reference.spread == 2.0
    assert "reference 2-core CPU" in reference.basis
    other = likely_throughput(ws, throughput_key("resnet50.a1_in1k", 128, 1, 16, device="cpu", threads=2))
    assert other.spread == 3.0 and other.train < REFERENCE_CPU["tf_efficientnet_lite0.in1k"]  # by GFLOPs: a heavier network, slower
    assert likely_throughput(ws, lite0(64, device="cuda")) is None  # no reference for an accelerator: only a measurement
    write_throughput(ws, lite0(128), Throughput(train=50.0, evaluate=150.0))
    scaled = likely_throughput(ws, lite0(64))  # the same network measured here at 128 px
    assert (scaled.train, scaled.evaluate, scaled.spread) == (200.0, 600.0, 1.5) and "128 px measured here" in scaled.basis
    assert likely_throughput(ws, lite0(128)) == Throughput(train=50.0, evaluate=150.0)  # measured: spread 1
