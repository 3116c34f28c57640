"""Nothing invalid reaches the worker: the task file's rules at parse time, the workspace's at submit,
one validation for the CLI, the Python API and the wizard."""

import json

import pytest

from deepq_widgets.cli import main
from deepq_widgets.spec import SpecError, TaskSpec, parse_spec
from deepq_widgets.store import Store
from deepq_widgets.submission import submission_problems
from deepq_widgets.tasks import submit

GOOD = {"name": "lesions", "task": "single_label", "dataset": "ultrasound_lesions", "model": {"arch": "tf_efficientnet_lite0.in1k"}}


def spec(**changes) -> TaskSpec:
    return parse_spec(GOOD | changes)


def test_a_good_task_passes(demo_ws):
    assert submission_problems(demo_ws, spec()) == []


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"dataset": "../../etc"}, "dataset", "not a dataset name"),
        ({"dataset": "a/b"}, "dataset", "not a dataset name"),
        ({"name": "<script>alert(1)</script>"}, "name", "< >"),
        ({"name": "red\x1b[31m"}, "name", "control characters"),
        ({"windows": ["brain"] * 5000}, "windows", "at most 8"),
    ],
)
def test_the_task_files_own_rules_are_checked_when_it_is_read(changes, field, says):
    with pytest.raises(SpecError) as caught:
        spec(**changes)
    assert field in str(caught.value) and says in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"model": {"arch": "resnet9000"}}, "model.arch: unknown model 'resnet9000'"),
        ({"model": {}}, "model.arch: the task names no network"),  # Auto without a network
        ({"dataset": "no_such_data"}, "dataset: no dataset 'no_such_data'"),
        ({"dataset": ""}, "dataset: the task names no dataset"),
        ({"task": "detection"}, "dataset: 'ultrasound_lesions' cannot train this task"),
        ({"windows": ["brian"]}, "windows: unknown window 'brian'"),
        ({"flow": "specialized", "preset": "no_such_preset"}, "preset: unknown preset"),
        ({"flow": "retrain", "model": {"base_model": "gone"}}, "model.base_model: no registered model 'gone'"),
    ],
)
def test_the_workspace_rules_are_checked_at_submit(demo_ws, changes, says):
    problems = submission_problems(demo_ws, spec(**changes))
    assert any(says in p for p in problems), problems


def test_submit_refuses_and_queues_nothing(demo_copy):
    with pytest.raises(SpecError, match="model.arch"):
        submit(demo_copy, spec(model={"arch": "resnet9000"}), start_worker=False)
    assert Store(demo_copy.db_path).tasks() == []


def test_deepq_run_says_what_is_wrong_and_starts_nothing(demo_copy, capsys):
    task_file = demo_copy.root / "bad.json"
    task_file.write_text(json.dumps(GOOD | {"model": {"arch": "resnet9000"}, "dataset": "no_such_data"}))
    assert main(["run", str(task_file), "--workspace", str(demo_copy.root), "--detach"]) != 0
    err = capsys.readouterr().err
    assert "model.arch: unknown model" in err and "dataset: no dataset" in err
    assert Store(demo_copy.db_path).tasks() == []
    assert not (demo_copy.tasks / "worker.log").exists()  # no worker was started for it


def test_a_new_task_never_inherits_an_old_tasks_folder(demo_copy):
    old = demo_copy.tasks / "1" / "checkpoint"
    old.mkdir(parents=True)
    (old / "checkpoint.json").write_text("{}")  # left by a task of a database since reset
    task_id = submit(demo_copy, spec(), start_worker=False)
    assert task_id == 1
    assert sorted(p.name for p in (demo_copy.tasks / "1").iterdir()) == ["task.json"]
    (aside,) = [p for p in demo_copy.tasks.iterdir() if p.name.startswith("1.stale-")]
    assert (aside / "checkpoint" / "checkpoint.json").is_file()  # kept, not deleted
