"""Kinds are found through the `deepq_widgets.kinds` entry point in every process; a kind that cannot be
loaded is said, never breaking the task list, the CLI or the clean-up of interrupted tasks."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from deepq_widgets import kinds
from deepq_widgets.cli import main
from deepq_widgets.kinds.base import TaskKind
from deepq_widgets.spec import SpecError, parse_spec
from deepq_widgets.store import ERROR, Store
from deepq_widgets.tasks import reap_interrupted, submit

PLAIN = {"name": "p", "flow": "general", "dataset": "d", "tuning": "manual", "model": {"arch": "tf_efficientnet_lite0.in1k"}}


def test_a_fresh_isolated_process_finds_the_same_kinds_in_the_same_order():
    code = "from deepq_widgets import kinds; print(','.join(kinds.names()))"
    found = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert found.split(",") == kinds.names() and "regression" in found


def test_a_plugin_published_by_another_package_loads_and_a_broken_one_is_said(tmp_path):
    """Two packages on the path publish kinds: one works, one fails to import; the registry keeps the first
    and says why the second cannot load, without breaking the built-in kinds."""
    (tmp_path / "extra_kinds.py").write_text(
        textwrap.dedent(
            """
            from deepq_widgets.kinds.base import TaskKind
            KIND = TaskKind(name="bone_age", title="Bone age", about="", annotations=("regression",), headline=("mae",), order=60)
            """
        )
    )
    dist = tmp_path / "extra_kinds-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: extra-kinds\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[deepq_widgets.kinds]\nbone_age = extra_kinds:KIND\nbroken = missing_module:KIND\n")
    code = (
        "import json\nfrom deepq_widgets import kinds\n"
        "try:\n    kinds.get('broken')\nexcept kinds.UnknownTaskKind as exc:\n    why = str(exc)\n"
        "print(json.dumps([kinds.names(), kinds.broken(), why]))"
    )
    env = os.environ | {"PYTHONPATH": str(tmp_path)}
    names, broken, why = json.loads(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    )
    assert names == [*kinds.names(), "bone_age"]
    assert list(broken) == ["broken"] and "ModuleNotFoundError" in broken["broken"]
    assert why.startswith("task kind 'broken' cannot be loaded: missing_module:KIND failed to load")


@pytest.fixture
def local_kind():
    kind = kinds.register(TaskKind(name="only_here", title="Only here", about="", annotations=("single_label",), headline=("auroc",)))
    yield kind
    kinds.unregister(kind.name)


def test_a_kind_registered_in_one_process_is_refused_at_submit(local_kind, demo_copy):
    spec = parse_spec(PLAIN | {"task": "only_here", "dataset": "ultrasound_lesions"})
    with pytest.raises(SpecError, match="registered in this process only.*entry point"):
        submit(demo_copy, spec, start_worker=False)


def test_a_task_whose_kind_cannot_be_loaded_is_an_error_row_and_breaks_nothing(local_kind, demo_copy, capsys):
    store = Store(demo_copy.db_path)
    good = store.submit(parse_spec(PLAIN | {"name": "good", "task": "single_label", "dataset": "ultrasound_lesions"}))
    orphan = store.submit(parse_spec(PLAIN | {"name": "orphan", "task": "only_here", "dataset": "ultrasound_lesions"}))
    kinds.unregister("only_here")  # as every other process sees it

    rows = {t.name: t for t in store.tasks()}
    assert rows["good"].state != ERROR and rows["good"].unreadable is None
    assert rows["orphan"].state == ERROR and "unknown task kind 'only_here'" in rows["orphan"].error
    assert rows["orphan"].spec.task == "only_here" and store.task(orphan).unreadable

    assert main(["tasks", "--workspace", str(demo_copy.root), "--json"]) == 0
    listed = {t["name"]: t for t in json.loads(capsys.readouterr().out)}
    assert "cannot be run here" in listed["orphan"]["error"] and listed["good"]["id"] == good
    assert reap_interrupted(store) == []  # the clean-up of interrupted tasks reads every row
    assert kinds.shown("only_here").title == "only_here (kind not installed)"
