"""The layering check of docs/architecture.md, as a function of a package folder.

Every import statement of every module is resolved to an absolute module name (relative
imports and `from .. import name` aliases included; imports under `if TYPE_CHECKING:` are
type hints, not imports, and are skipped) and checked against the rules there.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

# The floors, lowest first. A module may import its own floor and those below, never above.
FLOORS = ["foundation", "core", "training", "interface"]
HEAVY = ("torch", "torchvision", "timm", "fastai")  # never imported at module level below training
UI = ("ipywidgets", "IPython", "fastai")  # never imported at all below training


def floor(module: str) -> str:
    """The floor of a deepq_widgets module, by name."""
    parts = module.split(".")[1:]
    if not parts or parts[0] in ("resources", "workspace", "spec", "contracts", "files"):
        return "foundation"
    if parts[0] == "kinds":
        return "training" if parts[-1] == "training" else "foundation"
    if parts[:2] == ["zoo", "catalog"]:
        return "foundation"
    if parts[0] == "training":
        return "training"
    if parts[0] in ("widgets", "app", "cli", "api"):
        return "interface"
    return "core"


def is_view(module: str) -> bool:
    """The dashboard's views and their wiring: they never train and never import torch."""
    return module.split(".")[1:2] in (["widgets"], ["app"])


@dataclass(frozen=True)
class Import:
    module: str
    top_level: bool  # at module level (not inside a function or class body)
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path) -> list[Import]:
    tree = ast.parse(path.read_text())
    package = module_name(path, root) if path.name == "__init__.py" else module_name(path, root).rpartition(".")[0]
    out: list[Import] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                out.extend(Import(alias.name, top, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                out.append(Import(base, top, child.lineno))
                if not child.module or child.level:  # `from .. import widgets`: the names may be modules
                    out.extend(Import(f"{base}.{alias.name}", top, child.lineno) for alias in child.names)
            else:
                visit(child, top and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda))

    visit(tree, True)
    return out


def is_module(name: str, root: Path) -> bool:
    rel = Path(*name.split(".")[1:]) if "." in name else Path()
    return (root / rel).with_suffix(".py").is_file() or (root / rel / "__init__.py").is_file()


def violations(root: Path) -> list[str]:
    """Every broken rule in the package at `root`, as 'file:line: what'."""
    out: dict[str, str] = {}  # one report per import statement
    for path in sorted(root.rglob("*.py")):
        here = module_name(path, root)
        mine = FLOORS.index(floor(here))
        for imp in imports(path, root):
            where = f"{path.relative_to(root.parent)}:{imp.line}"
            top = imp.module.split(".")[0]
            if imp.module.startswith(root.name + ".") or imp.module == root.name:
                if not is_module(imp.module, root):
                    continue  # a name imported from a module, not a module
                theirs = FLOORS.index(floor(imp.module))
                if theirs > mine:
                    out.setdefault(where, f"{where}: {here} ({FLOORS[mine]}) imports {imp.module} ({FLOORS[theirs]}), a higher floor")
                elif is_view(here) and floor(imp.module) == "training":
                    out.setdefault(where, f"{where}: {here} (a view) imports {imp.module}; views talk to the store")
            elif mine < FLOORS.index("training") and top in UI:
                out.setdefault(where, f"{where}: {here} ({FLOORS[mine]}) imports {imp.module}")
            elif mine < FLOORS.index("training") and top in HEAVY and imp.top_level:
                out.setdefault(where, f"{where}: {here} ({FLOORS[mine]}) imports {imp.module} at module level")
            elif floor(here) == "training" and top in ("ipywidgets", "IPython"):
                out.setdefault(where, f"{where}: {here} (training) imports {imp.module}")
            elif is_view(here) and top in HEAVY:
                out.setdefault(where, f"{where}: {here} (a view) imports {imp.module}; views talk to the store")
    return list(out.values())
