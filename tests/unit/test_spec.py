import json
import subprocess
import sys

import pytest

from deepq_widgets.spec import Augmentation, Hyperparameters, SpecError, TaskSpec, field_bounds, parse_spec


def test_defaults_are_the_original_products():
    h, a = Hyperparameters(), Augmentation()
    assert (h.batch_size, h.epochs, h.valid_pct, h.lr, h.weight_decay, h.momentum, h.early_stop) == (32, 100, 20, 1e-3, 0.0, 0.9, True)
    assert (a.hflip_p, a.translate_pct, a.rotate_deg) == (0.5, 5.0, 180.0)
    assert (a.brightness, a.contrast, a.saturation, a.hue) == (0.1, 0.1, 0.1, 0.1)


@pytest.mark.parametrize(
    "model, field, lo, hi",
    [
        (Hyperparameters, "batch_size", 1, 256),
        (Hyperparameters, "epochs", 1, 200),
        (Hyperparameters, "valid_pct", 1, 99),
        (Hyperparameters, "lr", 1e-6, 1.0),
        (Hyperparameters, "weight_decay", 0, 0.1),
        (Hyperparameters, "momentum", 0, 0.99),
        (Augmentation, "translate_pct", 0, 20),
        (Augmentation, "rotate_deg", 0, 180),
    ],
)
def test_ranges_match_the_spec(model, field, lo, hi):
    assert field_bounds(model, field) == (lo, hi)


def test_out_of_range_message_names_field_and_range():
    with pytest.raises(SpecError) as err:
        parse_spec({"name": "x", "hyper": {"batch_size": 300, "lr": 5}})
    text = str(err.value)
    assert "hyper.batch_size must be between 1 and 256 (got 300)" in text
    assert "hyper.lr must be between 1e-06 and 1.0 (got 5)" in text


def test_keeping_the_last_weights_needs_early_stop_off():
    """Early stop ends a fit at its best epoch's weights: asking for the last ones too is a contradiction, said."""
    with pytest.raises(SpecError, match="hyper.last_weights: early stop ends the fit at the best epoch's weights"):
        parse_spec({"name": "x", "hyper": {"last_weights": True}})
    assert parse_spec({"name": "x", "hyper": {"last_weights": True, "early_stop": False}}).hyper.last_weights


def test_unknown_fields_are_refused():
    with pytest.raises(SpecError, match="hyper.batchsize"):
        parse_spec({"name": "x", "hyper": {"batchsize": 3}})


def test_flow_requirements():
    with pytest.raises(SpecError, match="preset is required for the specialized flow"):
        parse_spec({"name": "x", "flow": "specialized"})
    with pytest.raises(SpecError, match="model.base_model is required"):
        parse_spec({"name": "x", "flow": "retrain"})
    with pytest.raises(SpecError, match="model.arch is required"):
        parse_spec({"name": "x", "flow": "general", "tuning": "manual"})


def test_json_round_trip_keeps_everything():
    spec = parse_spec(
        {
            "name": "ptx",
            "flow": "specialized",
            "preset": "pneumothorax",
            "task": "single_label",
            "dataset": "d",
            "windows": ["file"],
            "hyper": {"epochs": 7, "schedule": "step"},
            "augment": {"hflip": False},
            "seed": 42,
        }
    )
    again = TaskSpec.from_json(spec.to_json())
    assert again == spec
    assert json.loads(again.to_json())["hyper"]["schedule"] == "step"


def test_schema_command_prints_the_json_schema():
    out = subprocess.run([sys.executable, "-m", "deepq_widgets.cli", "schema"], capture_output=True, text=True, check=True).stdout
    schema = json.loads(out)
    assert schema["title"] == "TaskSpec"
    assert schema["$defs"]["Hyperparameters"]["properties"]["batch_size"]["maximum"] == 256
