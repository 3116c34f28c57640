"""`deepq run` follows a task to its end; the exit code says whether it failed."""

import json
import os
import re
import subprocess
import sys

import pytest

from tests.training.conftest import general_spec, make_spec

pytestmark = pytest.mark.slow


def deepq(*argv, cwd=None):
    env = {**os.environ, "DEEPQ_WORKER_IDLE": "3", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "deepq_widgets.cli", *argv], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def test_run_follows_to_finished_then_lists_task_and_model(demo_copy, capsys, tmp_path):
    spec = general_spec(
        demo_copy,
        capsys,
        "single_label",
        "ultrasound_lesions",
        "cli run",
        hyper__epochs=2,
        image_size=64,
    )
    path = tmp_path / "task.json"
    path.write_text(json.dumps(spec))
    done = deepq("run", str(path), "--workspace", str(demo_copy.root))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "finished"
    # into a pipe: one line for each epoch and state, no redrawn frames, and the bar never steps back
    lines = [line for line in done.stderr.splitlines() if "epoch " in line]
    assert "\r" not in done.stderr and "epoch 2/2  finished" in lines[-1] and len(lines) <= 6, done.stderr
    shown = [int(re.search(r"(\d+)%", line).group(1)) for line in lines]
    assert shown == sorted(shown), lines
    tasks = json.loads(deepq("tasks", "--workspace", str(demo_copy.root), "--json").stdout)
    assert {"id", "name", "state", "progress", "epoch", "metrics"} <= tasks[0].keys() and tasks[0]["progress"] == 1.0
    models = json.loads(deepq("models", "--workspace", str(demo_copy.root), "--json").stdout)
    assert {"id", "name", "task", "arch", "classes", "metrics"} <= models[0].keys() and models[0]["name"] == "cli run"


def test_run_exits_non_zero_on_error(demo_copy, capsys, tmp_path):
    spec = make_spec(
        demo_copy,
        capsys,
        "--flow",
        "general",
        "--task",
        "single_label",
        "--dataset",
        "ultrasound_lesions",
        "--model",
        "resnet18.a1_in1k",
        "--name",
        "no weights",
        hyper__epochs=1,
        image_size=64,
    )
    path = tmp_path / "task.json"
    path.write_text(json.dumps(spec))
    done = deepq("run", str(path), "--workspace", str(demo_copy.root))
    assert done.returncode == 1
    assert "no pretrained weights for resnet18.a1_in1k" in done.stderr and "safetensors" in done.stderr
