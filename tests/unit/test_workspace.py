import pytest

from deepq_widgets.workspace import WorkspaceError, WorkspacePaths


def test_creates_its_folders(tmp_path):
    ws = WorkspacePaths(tmp_path / "w")
    assert all((ws.root / d).is_dir() for d in ("datasets", "tasks", "models", "weights"))
    assert ws.db_path.name == "deepq.sqlite"


@pytest.mark.parametrize("bad", ["../outside", "/etc/passwd", "datasets/../../x", "~/somewhere"])
def test_paths_outside_are_refused(tmp_path, bad):
    ws = WorkspacePaths(tmp_path / "w")
    with pytest.raises(WorkspaceError, match="outside the workspace"):
        ws.resolve(bad)


def test_symlink_escape_is_refused(tmp_path):
    ws = WorkspacePaths(tmp_path / "w")
    (ws.datasets / "link").symlink_to(tmp_path)
    with pytest.raises(WorkspaceError):
        ws.resolve("datasets/link/secret.png")


def test_inside_paths_resolve(tmp_path):
    ws = WorkspacePaths(tmp_path / "w")
    assert ws.resolve("datasets/a.png") == ws.root / "datasets" / "a.png"
    assert ws.dataset_dir("demo") == ws.datasets / "demo"
    with pytest.raises(WorkspaceError):
        ws.dataset_dir("../models")


def test_a_report_never_replaces_the_workspaces_own_files(tmp_path):
    ws = WorkspacePaths(tmp_path / "ws")
    for refused in ("deepq.sqlite", "tasks/report.html", "datasets/lesions/label.html", "models/x/index.html", "../out.html", "notes.txt"):
        with pytest.raises(WorkspaceError):
            ws.report_path(refused)
    assert ws.report_path("reports/lesions.html") == ws.root / "reports" / "lesions.html"


def test_a_dataset_name_that_climbs_out_never_names_an_evaluation_file(tmp_path):
    from deepq_widgets.evaluations import evaluation_path

    ws = WorkspacePaths(tmp_path / "ws")
    for name in ("../../deepq", "lesions/../../x", "/etc/passwd"):
        with pytest.raises(WorkspaceError):
            evaluation_path(ws, "model-t1", name)
    assert evaluation_path(ws, "model-t1", "lesions") == ws.models / "model-t1" / "evaluations" / "lesions.json"
