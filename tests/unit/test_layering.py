"""Which layer may import which: the rules of docs/architecture.md, checked on the source."""

import shutil
from pathlib import Path

import pytest

from tests.unit.layering import floor, violations

PKG = Path(__file__).resolve().parents[2] / "deepq_widgets"


def test_the_package_keeps_every_layering_rule():
    assert violations(PKG) == []


def test_the_floors_are_the_documented_ones():
    assert [floor(m) for m in ("deepq_widgets.spec", "deepq_widgets.kinds.detection", "deepq_widgets.zoo.catalog")] == ["foundation"] * 3
    assert [floor(m) for m in ("deepq_widgets.data.cache", "deepq_widgets.wizard", "deepq_widgets.store", "deepq_widgets.zoo.select")] == [
        "core"
    ] * 4
    assert floor("deepq_widgets.kinds.detection.training") == floor("deepq_widgets.training.runner") == "training"
    assert floor("deepq_widgets.widgets.monitor") == floor("deepq_widgets.cli") == "interface"


BROKEN = {
    "training imports widgets by a relative alias": ("training/leak.py", "from .. import widgets as w\n", "imports deepq_widgets.widgets"),
    "widgets import training": ("widgets/leak.py", "from ..training import runner\n", "views talk to the store"),
    "data imports torch at module level": ("data/leak.py", "import torch\n", "imports torch at module level"),
    "the wizard imports fastai even lazily": ("wizard_leak.py", "def f():\n    import fastai\n", "imports fastai"),
    "a kind's pure part imports the store": ("kinds/detection/leak.py", "from ...store import Store\n", "a higher floor"),
    "the kind registry imports the catalog": ("kinds/leak.py", "from ..data import catalog\n", "a higher floor"),
    "a widget imports torch": ("widgets/leak.py", "def f():\n    import torch\n", "views talk to the store"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_the_check_fails_when_a_rule_is_broken(case, tmp_path):
    relative, source, message = BROKEN[case]
    copy = tmp_path / "deepq_widgets"
    shutil.copytree(PKG, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / relative).write_text(source)
    found = violations(copy)
    assert len(found) == 1 and message in found[0] and relative.split("/")[-1] in found[0], found


def test_imports_under_type_checking_are_not_imports(tmp_path):
    copy = tmp_path / "deepq_widgets"
    shutil.copytree(PKG, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "spec_hint.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .data.catalog import DatasetInfo\n")
    assert violations(copy) == []


def test_no_unpickling_anywhere():
    for path in PKG.rglob("*.py"):
        text = path.read_text()
        for needle in ("load_learner", "pickle.load", "weights_only=False"):
            assert needle not in text, f"{path} contains {needle}"


def test_ray_is_imported_only_by_a_worker_given_ray():
    """Ray is optional: the package, the CLI and the worker module load without importing it."""
    import subprocess
    import sys

    code = (
        "import sys, deepq_widgets, deepq_widgets.cli, deepq_widgets.training.worker, deepq_widgets.training.runner; "
        "print('ray' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split() == ["False"]
