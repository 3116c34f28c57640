"""Every tutorial runs top to bottom on a fresh demo workspace, with small images and few epochs given
through its parameters cell (as papermill would), and shows no error. The PACS tutorial gets the test Orthanc."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient


TUTORIALS = sorted((Path(__file__).resolve().parents[2] / "notebooks" / "tutorials").glob("*.ipynb"))
pytestmark = pytest.mark.slow


def test_there_are_seven_tutorials_each_with_a_parameters_cell():
    assert len(TUTORIALS) == 7
    for path in TUTORIALS:
        cells = nbformat.read(path, as_version=4).cells
        assert sum("parameters" in c.metadata.get("tags", []) for c in cells) == 1, path.name
        assert all(not c.get("outputs") for c in cells if c.cell_type == "code"), f"{path.name} is stored with outputs"


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs(path, demo_copy, monkeypatch, request):
    monkeypatch.setenv("DEEPQ_WORKER_IDLE", "3")
    monkeypatch.setenv("DEEPQ_THREADS", "2")
    nb = nbformat.read(path, as_version=4)
    (parameters,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    parameters.source += f"\nWORKSPACE = {str(demo_copy.root)!r}\nIMAGE_SIZE = 64\nEPOCHS = 2"
    if "PACS_URL" in parameters.source:
        from tests.pacs_server import PASSWORD, USER

        pacs = request.getfixturevalue("writable_pacs")
        parameters.source += f"\nPACS_URL = {pacs.url!r}"
        monkeypatch.setenv("DEEPQ_PACS_USER", USER)
        monkeypatch.setenv("DEEPQ_PACS_PASSWORD", PASSWORD)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(demo_copy.root)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("text/html" in o.get("data", {}) for o in shown)  # the objects show themselves
