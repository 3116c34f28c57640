"""The CLI contract: JSON keys and refusals that scripts rely on."""

import ast
import json
from pathlib import Path

import pytest

from deepq_widgets import kinds
from deepq_widgets.cli import main


def strict_loads(text: str):
    """json.loads that refuses NaN and Infinity, as strict parsers (JavaScript's, jq's) do."""

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def run_json(capsys, *argv):
    assert main(list(argv)) == 0
    return strict_loads(capsys.readouterr().out)


def test_json_output_is_strict_an_undefined_figure_is_null(capsys):
    from deepq_widgets.cli.common import print_json

    print_json({"auroc": float("nan"), "per_class": [{"dor": float("inf"), "auc": 0.5}], "ci": (float("nan"), 1.0)})
    found = strict_loads(capsys.readouterr().out)
    assert found == {"auroc": None, "per_class": [{"dor": None, "auc": 0.5}], "ci": [None, 1.0]}


def test_datasets_json_keys(demo_ws, capsys):
    items = run_json(capsys, "datasets", "--workspace", str(demo_ws.root), "--json")
    from deepq_widgets.data.demo import DEMO_DATASETS

    assert sorted(i["name"] for i in items) == sorted(DEMO_DATASETS)
    for item in items:
        assert {"name", "annotation", "fits", "cases", "classes", "format", "has_studies", "problems"} <= item.keys()
        assert item["annotation"] in kinds.names()
        assert item["format"] in ("dicom", "png", "jpg", "nifti")
    by_name = {i["name"]: i for i in items}
    assert by_name["chest_cta_embolism"]["has_studies"] and not by_name["lung_nodules"]["has_studies"]


def test_datasets_with_task_adds_fit_and_reason(demo_ws, capsys):
    items = run_json(capsys, "datasets", "--workspace", str(demo_ws.root), "--task", "detection", "--json")
    fit = {i["name"]: (i["fit"], i["reason"]) for i in items}
    assert fit["lung_nodules"] == (True, "") and fit["polyps_coco"][0]
    assert not fit["fundus_findings"][0] and "multi-label" in fit["fundus_findings"][1]


def test_preview_writes_a_png(demo_ws, tmp_path, capsys):
    out = tmp_path / "p.png"
    assert main(["preview", "--workspace", str(demo_ws.root), "head_ct_hemorrhage", "--out", str(out), "--page", "1"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "page 2 of 7" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, expect",
    [
        (
            ["--flow", "general", "--task", "single_label", "--dataset", "ultrasound_lesions", "--name", "a"],
            {"flow": "general", "tuning": "auto"},
        ),
        (
            ["--flow", "general", "--task", "detection", "--dataset", "polyps_coco", "--model", "resnet50.a1_in1k", "--epochs", "3"],
            {"tuning": "manual", "model": {"arch": "resnet50.a1_in1k", "pretrain": "default", "base_model": None}},
        ),
        (
            ["--flow", "specialized", "--preset", "pulmonary_embolism", "--dataset", "chest_cta_embolism", "--tuning", "manual"],
            {"preset": "pulmonary_embolism", "windows": ["pe", "mediastinum", "lung"], "task": "study_label"},
        ),
    ],
)
def test_spec_prints_a_valid_taskspec(demo_ws, capsys, argv, expect):
    spec = run_json(capsys, "spec", "--workspace", str(demo_ws.root), *argv)
    for key, value in expect.items():
        assert spec[key] == value
    assert spec["name"]


@pytest.mark.parametrize(
    "argv, reason",
    [
        (["--flow", "general", "--task", "detection", "--dataset", "fundus_findings"], "annotated for multi-label"),
        (["--flow", "specialized", "--preset", "pneumothorax", "--dataset", "chest_cta_embolism"], "annotated for study-label"),
        (["--flow", "general", "--task", "single_label", "--dataset", "ultrasound_lesions", "--model", "resnet99"], "Unknown network"),
        (
            ["--flow", "general", "--task", "single_label", "--dataset", "ultrasound_lesions", "--epochs", "500"],
            "epochs must be between 1 and 200",
        ),
        (["--flow", "retrain", "--model", "nope"], "Choose a model to retrain"),
        (["--flow", "specialized", "--preset", "pneumothorax", "--model", "resnet50.a1_in1k"], "fixes the network"),
    ],
)
def test_spec_refuses_what_the_wizard_refuses(demo_ws, capsys, argv, reason):
    assert main(["spec", "--workspace", str(demo_ws.root), *argv]) == 2
    assert reason in capsys.readouterr().err


def test_a_task_file_for_one_dataset_reads_that_dataset_alone(demo_ws, capsys, monkeypatch):
    """Building a task file validates its own dataset; a workspace's other datasets (a thousand series of 300 slices
    took minutes) are not scanned for it."""
    from deepq_widgets import context

    scanned, scan = [], context.scan_or_report
    monkeypatch.setattr(context, "scan_or_report", lambda ws, name: scanned.append(name) or scan(ws, name))
    spec = run_json(
        capsys, "spec", "--workspace", str(demo_ws.root), "--flow", "general", "--task", "single_label", "--dataset", "ultrasound_lesions"
    )
    assert spec["dataset"] == "ultrasound_lesions" and set(scanned) == {"ultrasound_lesions"}


def test_paths_outside_the_workspace_are_refused(demo_ws, capsys):
    assert main(["preview", "--workspace", str(demo_ws.root), "../..", "--out", "x.png"]) == 2
    assert "outside the workspace" in capsys.readouterr().err or "must be a folder" in capsys.readouterr().err


def test_zoo_json_keys(capsys):
    entries = run_json(capsys, "zoo", "--task", "segmentation", "--json")
    assert len(entries) > 100
    keys = {"name", "family", "variant", "pretrain", "params_m", "gflops", "top1", "input_size", "tasks", "offline_available"}
    assert all(keys <= e.keys() and "segmentation" in e["tasks"] for e in entries)
    offline = run_json(capsys, "zoo", "--offline", "--json")
    assert {e["name"] for e in offline} >= {"tf_efficientnet_lite0.in1k"} and all(e["offline_available"] for e in offline)


def test_recommend_and_presets_json(capsys):
    rec = run_json(capsys, "recommend", "--task", "multi_label", "--modality", "Fundus", "--size", "3", "--json")
    assert set(rec) >= {"model", "image_size", "batch_size", "reason"}
    presets = run_json(capsys, "presets", "--json")
    assert {p["id"] for p in presets} == {"intracranial_hemorrhage", "pneumothorax", "pulmonary_embolism"}
    assert all({"id", "task", "classes", "modality", "model", "windows"} <= p.keys() for p in presets)
    ich = next(p for p in presets if p["id"] == "intracranial_hemorrhage")
    assert ich["task"] == "study_label" and ich["classes"] == ["hemorrhage", "normal"] and ich["windows"] == ["brain", "subdural", "bone"]


def test_serve_runs_the_bundled_notebook_with_its_voila_config():
    from traitlets.config.loader import JSONFileConfigLoader

    from deepq_widgets import serving
    from deepq_widgets.resources import data_dir

    notebooks = data_dir("notebooks")
    argv = serving.voila_argv(notebooks / "create_task.ipynb", notebooks, 8866, "127.0.0.1", None)
    notebook = Path(argv[0])
    assert notebook.name == "create_task.ipynb" and notebook.is_file()
    (folder,) = ast.literal_eval(next(a for a in argv if a.startswith("--Voila.config_file_paths=")).split("=", 1)[1])
    assert "--template=deepq" in argv and (Path(folder) / "jupyter" / "voila" / "templates" / "deepq" / "conf.json").is_file()
    config = JSONFileConfigLoader("voila.json", path=folder).load_config()
    kernels = config.MappingKernelManager
    assert kernels.cull_idle_timeout > 0 and kernels.cull_connected
    assert "comm_msg" in kernels.allowed_message_types and "execute_request" not in kernels.allowed_message_types
    assert config.VoilaConfiguration.preheat_kernel and config.VoilaConfiguration.default_pool_size == 1  # a page in ~1 s
    assert "--VoilaConfiguration.preheat_kernel=False" not in argv
    cold = serving.voila_argv(notebook, notebooks, 8866, "127.0.0.1", None, preheat=False)
    assert "--VoilaConfiguration.preheat_kernel=False" in cold  # `deepq serve --no-preheat`
    # a preheated kernel learns that a page claimed it through the server: it must reach the address served
    assert [serving.kernel_callback_ip(ip) for ip in ("0.0.0.0", "127.0.0.1", "localhost", "10.0.0.5")] == [
        "127.0.0.1",
        "127.0.0.1",
        "127.0.0.1",
        "10.0.0.5",
    ]


def test_a_network_address_needs_a_token_and_hides_tracebacks():
    from deepq_widgets import serving

    assert serving.network_token("127.0.0.1") is None and serving.network_token("::1") is None
    token = serving.network_token("0.0.0.0")
    assert token and len(token) >= 24 and token != serving.network_token("0.0.0.0")  # random, long
    assert serving.network_token("0.0.0.0", "given") == "given"
    argv = serving.voila_argv(Path("n.ipynb"), Path("."), 8866, "0.0.0.0", "t0k")
    assert "--VoilaConfiguration.show_tracebacks=False" in argv and not any("t0k" in a for a in argv)  # never on a command line
    with pytest.raises(ValueError, match="token"):
        serving.voila_argv(Path("n.ipynb"), Path("."), 8866, "10.0.0.5", None)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:8866", True),
        ("localhost:8866", True),
        ("[::1]:8866", True),
        ("lab-box:8866", True),
        ("LAB-BOX", True),
        ("10.0.0.5:8866", True),
        ("attacker.example:8866", False),  # DNS rebinding: a foreign name re-pointed at this server
        ("10.0.0.6:8866", False),
        ("", False),
    ],
)
def test_only_this_servers_names_pass_the_host_check(host, allowed):
    from deepq_widgets.serving import host_allowed

    assert host_allowed(host, ["lab-box", "10.0.0.5"]) is allowed


def test_every_hyperparameter_is_a_spec_flag_and_an_api_choice_from_one_table(demo_ws, capsys):
    """A hyperparameter added to spec.py reaches `deepq spec` and `dq.spec` with no other line."""
    import argparse

    import deepq_widgets as dq
    from deepq_widgets.choices import options
    from deepq_widgets.cli import build_parser
    from deepq_widgets.spec import Hyperparameters

    spec_parser = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["spec"]
    flags = {flag for action in spec_parser._actions for flag in action.option_strings}
    for name in Hyperparameters.model_fields:
        assert "--" + name.replace("_", "-") in flags and f"    {name}: " in dq.spec.__doc__, name
    assert [o.name for o in options()][:2] == ["task", "preset"]
    argv = ["spec", "--workspace", str(demo_ws.root), "--flow", "general", "--task", "regression", "--dataset", "nodule_diameters"]
    argv += ["--model", "tf_efficientnet_lite0.in1k", "--lr", "3e-4", "--no-early-stop", "--schedule", "step", "--name", "flags"]
    assert main(argv) == 0
    hyper = json.loads(capsys.readouterr().out)["hyper"]
    assert (hyper["lr"], hyper["early_stop"], hyper["schedule"]) == (3e-4, False, "step")
    assert main([*argv[:-2], "--patience", "500", "--name", "bad"]) == 2
    assert "patience must be between 1 and 50 (got 500)" in capsys.readouterr().err
    with pytest.raises(ValueError, match="colour: not a choice; choose from task, preset"):
        dq.spec(demo_ws.root, task="single_label", colour="blue")


def test_a_choice_auto_or_the_flow_would_replace_is_refused_not_dropped(demo_ws):
    """Auto plans the epochs from the data, and the image size up to a cap: asked for under Auto, both used to vanish."""
    import deepq_widgets as dq

    auto = {"task": "regression", "dataset": "nodule_diameters", "name": "a"}
    with pytest.raises(ValueError, match=r"epochs: Auto plans it .*; image_size: Auto plans at most the network's \d+ px") as refused:
        dq.spec(demo_ws.root, **auto, epochs=3, image_size=1024)
    assert len(refused.value.problems) == 2
    capped = dq.spec(demo_ws.root, **auto, image_size=64)  # Auto's cap: it plans the images' own size up to it
    assert (capped.tuning.value, capped.image_size, capped.auto.max_side) == ("auto", 64, 64)
    assert dq.spec(demo_ws.root, **auto, valid_pct=30).hyper.valid_pct == 30  # Auto keeps the validation share
    manual = dq.spec(demo_ws.root, **auto, tuning="manual", epochs=3, image_size=64)
    assert (manual.hyper.epochs, manual.image_size) == (3, 64)


def test_help_prints_for_deepq_and_every_command(capsys):
    """`deepq --help` is the first command a new user types; a help text with a bare % once broke it."""
    from deepq_widgets.cli.common import COMMANDS

    for argv in (["--help"], *([name, "--help"] for name in COMMANDS)):
        with pytest.raises(SystemExit) as ended:
            main(argv)
        assert ended.value.code == 0, argv
    assert "95% intervals" in capsys.readouterr().out
