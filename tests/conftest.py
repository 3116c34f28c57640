"""Shared fixtures. Every test runs offline: a hub download would hang for ~47 s here."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")

import shutil
from pathlib import Path

import pytest

from deepq_widgets.workspace import WorkspacePaths
from tests.pacs_server import faulty, orthanc, writable_pacs  # noqa: F401 - the real PACS, for any test that names it


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace, generated once per test session; tests copy it before changing it."""
    from deepq_widgets.data.demo import create_demo

    root = tmp_path_factory.mktemp("demo") / "ws"
    create_demo(WorkspacePaths(root))
    return root


@pytest.fixture(scope="session")
def demo_ws(demo_root: Path) -> WorkspacePaths:
    """Read-only use of the demo workspace."""
    return WorkspacePaths(demo_root)


@pytest.fixture
def ws(tmp_path: Path) -> WorkspacePaths:
    return WorkspacePaths(tmp_path / "ws")


@pytest.fixture
def demo_copy(demo_root: Path, tmp_path: Path) -> WorkspacePaths:
    """A private copy of the demo workspace that a test may change. Its DICOM files (most of its bytes: the CT
    series) are hard links to the session's, as no test writes one in place: a test that damages a DICOM file
    makes its own."""
    target = tmp_path / "ws"
    shutil.copytree(demo_root, target, copy_function=_link_dicom_copy_rest)
    return WorkspacePaths(target)


def _link_dicom_copy_rest(source: str, target: str) -> None:
    if source.endswith(".dcm"):
        os.link(source, target)
    else:
        shutil.copy2(source, target)


def held_out_set_beside(ws: WorkspacePaths, source: str, target: str, per_label: int = 10, seen_every: int = 2) -> None:
    """A labelled dataset `target` made of `per_label` PNG images of each class of `source`: every `seen_every`-th
    one copied as it is (a case a model of `source` has seen), the others changed (new content, the same name)."""
    import numpy as np
    from PIL import Image

    for folder in sorted(p for p in (ws.datasets / source).iterdir() if p.is_dir()):
        (ws.datasets / target / folder.name).mkdir(parents=True)
        for i, path in enumerate(sorted(folder.glob("*.png"))[:per_label]):
            copy = shutil.copy(path, ws.datasets / target / folder.name / path.name)  # the same bytes: a seen case
            if i % seen_every:
                pixels = np.asarray(Image.open(path)).copy()
                pixels[:4, :4] = 255 - pixels[:4, :4]
                Image.fromarray(pixels).save(copy)


def usable_cores() -> int:
    return len(os.sched_getaffinity(0))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "two_at_once: needs two processes running at the same moment (two cores)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test that needs two processes at once skips, with the reason, where the tests may use one core;
    in CI (two cores) it never skips: there one core is a broken runner, and it fails."""
    if item.get_closest_marker("two_at_once") and usable_cores() < 2:
        why = f"needs two processes at the same moment; this machine lets the tests use {usable_cores()} core"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must have two cores: {why}")
        pytest.skip(why)
