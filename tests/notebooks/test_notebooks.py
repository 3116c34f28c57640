"""Every notebook runs top to bottom under nbclient; the dashboard notebook stays thin."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_dashboard_notebook_is_thin():
    nb = nbformat.read(NOTEBOOKS[0].parent / "create_task.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) <= 3 and "build_app" in "".join(c.source for c in code)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path, demo_copy, monkeypatch):
    monkeypatch.setenv("DEEPQ_WORKSPACE", str(demo_copy.root))
    monkeypatch.setenv("DEEPQ_WORKER_IDLE", "3")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(demo_copy.root)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    if path.name == "create_task.ipynb":
        assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
