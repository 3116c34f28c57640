"""Which layer may import which: the rules of docs/architecture.md, checked on the source."""

import shutil
from pathlib import Path

import pytest

from tests.unit.layering import cycles, floor, violations

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
    "training imports widgets by an absolute alias": (
        "training/leak.py",
        "from deepq_widgets import widgets\n",
        "imports deepq_widgets.widgets",
    ),
    "widgets import training": ("widgets/leak.py", "from ..training import runner\n", "views talk to the store"),
    "data imports torch at module level": ("data/leak.py", "import torch\n", "imports torch at module level"),
    "the data layer imports fastai even lazily": ("data/leak.py", "def f():\n    import fastai\n", "imports fastai"),
    "a kind's pure part imports the store": ("kinds/detection/leak.py", "from ...store import Store\n", "a higher floor"),
    "the kind registry imports the catalog": ("kinds/leak.py", "from ..data import catalog\n", "a higher floor"),
    "a widget imports torch": ("widgets/leak.py", "def f():\n    import torch\n", "views talk to the store"),
    "an import under `if not TYPE_CHECKING:` runs": (
        "kinds/leak.py",
        "from typing import TYPE_CHECKING\nif not TYPE_CHECKING:\n    from ..data.catalog import DatasetInfo\n",
        "a higher floor",
    ),
    "the else branch of `if TYPE_CHECKING:` runs": (
        "kinds/leak.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    pass\nelse:\n    from ..store import Store\n",
        "a higher floor",
    ),
    "a new top-level module belongs to no floor": ("newcomer.py", "X = 1\n", "belongs to no floor"),
    "a pure module imports the cache builder": ("autoplan.py", "from .data.cache import build_cache\n", "cache builder"),
}


def copy_package(tmp_path: Path) -> Path:
    copy = tmp_path / "deepq_widgets"
    shutil.copytree(PKG, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


@pytest.mark.parametrize("case", list(BROKEN))
def test_the_check_fails_when_a_rule_is_broken(case, tmp_path):
    relative, source, message = BROKEN[case]
    copy = copy_package(tmp_path)
    (copy / relative).write_text(source)
    found = violations(copy)
    assert len(found) == 1 and message in found[0] and relative.split("/")[-1] in found[0], found


def test_imports_under_type_checking_are_not_imports(tmp_path):
    copy = copy_package(tmp_path)
    (copy / "kinds" / "hint.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..data.catalog import DatasetInfo\n"
    )
    assert violations(copy) == []


def test_the_package_has_no_import_cycle():
    assert cycles(PKG) == []


def test_a_cycle_through_a_lazy_import_or_a_type_hint_is_found(tmp_path):
    copy = copy_package(tmp_path)
    (copy / "data" / "loop_a.py").write_text("from . import loop_b\n")
    (copy / "data" / "loop_b.py").write_text("def f():\n    from . import loop_a\n")
    (copy / "data" / "hint_a.py").write_text("from .hint_b import X\n")
    (copy / "data" / "hint_b.py").write_text("from typing import TYPE_CHECKING\nX = 1\nif TYPE_CHECKING:\n    from .hint_a import Y\n")
    assert sorted(cycles(copy)) == [
        ["deepq_widgets.data.hint_a", "deepq_widgets.data.hint_b"],
        ["deepq_widgets.data.loop_a", "deepq_widgets.data.loop_b"],
    ]


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


def test_no_two_classes_share_a_name():
    """A name means one thing across the package (a reader never wonders which `Evaluation` this is)."""
    import ast
    from collections import defaultdict

    where = defaultdict(list)
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                where[node.name].append(str(path.relative_to(PKG)))
    assert {name: paths for name, paths in where.items() if len(paths) > 1} == {}
