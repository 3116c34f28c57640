"""Shared fixtures. Every test runs offline: a hub download would hang for ~47 s here."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")

import shutil
from pathlib import Path

import pytest

from deepq_widgets.workspace import Workspace


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace, generated once per test session; tests copy it before changing it."""
    from deepq_widgets.data.demo import create_demo

    root = tmp_path_factory.mktemp("demo") / "ws"
    create_demo(Workspace(root))
    return root


@pytest.fixture(scope="session")
def demo_ws(demo_root: Path) -> Workspace:
    """Read-only use of the demo workspace."""
    return Workspace(demo_root)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws")


@pytest.fixture
def demo_copy(demo_root: Path, tmp_path: Path) -> Workspace:
    """A private copy of the demo workspace that a test may change."""
    target = tmp_path / "ws"
    shutil.copytree(demo_root, target)
    return Workspace(target)
