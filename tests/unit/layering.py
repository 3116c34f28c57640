"""The layering check of docs/architecture.md, as a function of a package folder.

Every import statement of every module is resolved to an absolute module name (relative
imports, `from .. import name` and `from deepq_widgets import name` aliases included) and
checked against the rules there. Imports inside an `if TYPE_CHECKING:` body are type hints, not
imports (its `else:` branch runs, and so does the body of `if not TYPE_CHECKING:`). Every module
must belong to a floor by name: a new top-level module fails until it is given one. `cycles`
finds import cycles, type hints and imports inside functions included.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

# The floors, lowest first. A module may import its own floor and those below, never above.
FLOORS = ["foundation", "core", "training", "interface"]
TOP_LEVEL = {  # deepq_widgets.<name> (a module, or a package's every module unless said below) -> its floor
    "resources": "foundation",
    "workspace": "foundation",
    "spec": "foundation",
    "contracts": "foundation",
    "files": "foundation",
    "kinds": "foundation",  # pure parts; kinds/<kind>/training.py is training
    "devices": "core",
    "children": "core",
    "liveness": "core",
    "data": "core",
    "presets": "core",
    "zoo": "core",  # zoo/catalog.py is foundation
    "autoplan": "core",
    "duration": "core",
    "dataset_fit": "core",
    "intervals": "core",
    "calibration": "core",
    "paper_card": "core",
    "evaluations": "core",
    "store": "core",
    "pacs": "core",
    "submission": "core",
    "tasks": "core",
    "serving": "core",
    "context": "core",
    "flows": "core",
    "wizard": "core",
    "augment_advice": "core",
    "wizard_context": "core",
    "choices": "core",
    "insight": "core",
    "plots": "core",
    "report": "core",
    "training": "training",
    "widgets": "interface",
    "app": "interface",
    "cli": "interface",
    "api": "interface",
}
HEAVY = ("torch", "torchvision", "timm", "fastai")  # never imported at module level below training
UI = ("ipywidgets", "IPython", "fastai")  # never imported at all below training
PURE = (
    "spec",
    "contracts",
    "kinds",
    "autoplan",
    "wizard",
    "wizard_context",
    "flows",
    "choices",
    "duration",
    "augment_advice",
)  # plan without decoding
CACHE_BUILDER = "data.cache"


def floor(module: str) -> str | None:
    """The floor of a deepq_widgets module, by name; None for a module no floor names."""
    parts = module.split(".")[1:]
    if not parts:
        return "foundation"  # the package itself: lazy names only (its __getattr__)
    if parts[0] == "kinds" and parts[-1] == "training":
        return "training"
    if parts[:2] == ["zoo", "catalog"]:
        return "foundation"
    return TOP_LEVEL.get(parts[0])


def is_view(module: str) -> bool:
    """The dashboard's views and their wiring: they never train and never import torch."""
    return module.split(".")[1:2] in (["widgets"], ["app"])


def is_pure(module: str) -> bool:
    """Modules that describe and plan a task without touching its data: they never import the cache builder."""
    parts = module.split(".")[1:]
    return bool(parts) and parts[0] in PURE and not (parts[0] == "kinds" and parts[-1] == "training")


@dataclass(frozen=True)
class Import:
    module: str
    top_level: bool  # at module level (not inside a function or class body)
    line: int
    type_hint: bool = False  # inside `if TYPE_CHECKING:` (never runs)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    """`TYPE_CHECKING` or `typing.TYPE_CHECKING` itself (not `not TYPE_CHECKING`, not an `or`)."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(path: Path, root: Path) -> list[Import]:
    """Every import of the module at `path`, with the modules its `from … import name` names may be."""
    tree = ast.parse(path.read_text())
    package = module_name(path, root) if path.name == "__init__.py" else module_name(path, root).rpartition(".")[0]
    out: list[Import] = []

    def visit(nodes: list[ast.AST], top: bool, hint: bool) -> None:
        for child in nodes:
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                visit(child.body, top, True)
                visit(child.orelse, top, hint)
            elif isinstance(child, ast.Import):
                out.extend(Import(alias.name, top, child.lineno, hint) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                out.append(Import(base, top, child.lineno, hint))
                # `from .. import widgets` or `from deepq_widgets import widgets`: the names may be modules
                out.extend(Import(f"{base}.{alias.name}", top, child.lineno, hint) for alias in child.names)
            else:
                inner = top and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda)
                visit(list(ast.iter_child_nodes(child)), inner, hint)

    visit(tree.body, True, False)
    return out


def is_module(name: str, root: Path) -> bool:
    rel = Path(*name.split(".")[1:]) if "." in name else Path()
    return (root / rel).with_suffix(".py").is_file() or (root / rel / "__init__.py").is_file()


def ours(imp: Import, root: Path) -> bool:
    """An import of one of the package's modules (not of a name inside one)."""
    return (imp.module == root.name or imp.module.startswith(root.name + ".")) and is_module(imp.module, root)


def violations(root: Path) -> list[str]:
    """Every broken rule in the package at `root`, as 'file:line: what'."""
    out: dict[str, str] = {}  # one report per import statement
    for path in sorted(root.rglob("*.py")):
        here = module_name(path, root)
        if floor(here) is None:
            where = str(path.relative_to(root.parent))
            out[where] = f"{where}: {here} belongs to no floor; add it to the floors of docs/architecture.md (tests/unit/layering.py)"
            continue
        mine = FLOORS.index(floor(here))
        for imp in imports(path, root):
            if imp.type_hint:
                continue
            where = f"{path.relative_to(root.parent)}:{imp.line}"
            top = imp.module.split(".")[0]
            if imp.module == root.name or imp.module.startswith(root.name + "."):
                if not is_module(imp.module, root) or floor(imp.module) is None:
                    continue  # a name imported from a module, not a module (or one reported above)
                theirs = FLOORS.index(floor(imp.module))
                if theirs > mine:
                    out.setdefault(where, f"{where}: {here} ({FLOORS[mine]}) imports {imp.module} ({FLOORS[theirs]}), a higher floor")
                elif is_view(here) and floor(imp.module) == "training":
                    out.setdefault(where, f"{where}: {here} (a view) imports {imp.module}; views talk to the store")
                elif is_pure(here) and imp.module == f"{root.name}.{CACHE_BUILDER}":
                    out.setdefault(where, f"{where}: {here} (pure) imports the cache builder; what a cache takes is data/footprint.py")
            elif mine < FLOORS.index("training") and top in UI:
                out.setdefault(where, f"{where}: {here} ({FLOORS[mine]}) imports {imp.module}")
            elif mine < FLOORS.index("training") and top in HEAVY and imp.top_level:
                out.setdefault(where, f"{where}: {here} ({FLOORS[mine]}) imports {imp.module} at module level")
            elif floor(here) == "training" and top in ("ipywidgets", "IPython"):
                out.setdefault(where, f"{where}: {here} (training) imports {imp.module}")
            elif is_view(here) and top in HEAVY:
                out.setdefault(where, f"{where}: {here} (a view) imports {imp.module}; views talk to the store")
    return list(out.values())


def cycles(root: Path) -> list[list[str]]:
    """Import cycles among the package's modules (imports in functions and type hints included), each sorted."""
    edges: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        here = module_name(path, root)
        targets = {imp.module for imp in imports(path, root) if ours(imp, root)}
        edges[here] = {t for t in targets if t != here and not here.startswith(t + ".")}  # a package's own __init__
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found
