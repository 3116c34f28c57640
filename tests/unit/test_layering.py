"""Which layer may import which (DESIGN.md): checked on the source, imports inside functions included."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "deepq_widgets"
PURE = [
    "spec.py",
    "wizard.py",
    "zoo.py",
    "presets.py",
    "store.py",
    "workspace.py",
    "context.py",
    "resources.py",
    *[str(p.relative_to(PKG)) for p in (PKG / "data").rglob("*.py")],
]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # resolve relative imports against the file's package
                parts = list(path.relative_to(PKG.parent).with_suffix("").parts)[: -node.level]
                base = ".".join(parts + ([base] if base else []))
            out.add(base)
    return out


@pytest.mark.parametrize("rel", PURE)
def test_pure_layers_import_neither_ipywidgets_nor_fastai(rel):
    bad = {m for m in imported_modules(PKG / rel) if m.split(".")[0] in ("ipywidgets", "fastai", "IPython")}
    assert not bad, f"{rel} imports {bad}"


def test_training_never_imports_widgets_and_widgets_never_import_training():
    for path in (PKG / "training").rglob("*.py"):
        assert not {m for m in imported_modules(path) if m.startswith(("deepq_widgets.widgets", "ipywidgets"))}, path
    for path in (PKG / "widgets").rglob("*.py"):
        assert not {m for m in imported_modules(path) if m.startswith(("deepq_widgets.training", "fastai", "torch"))}, path


def test_no_unpickling_anywhere():
    for path in PKG.rglob("*.py"):
        text = path.read_text()
        for needle in ("load_learner", "pickle.load", "weights_only=False"):
            assert needle not in text, f"{path} contains {needle}"
