"""Binder, tried the way repo2docker builds it: a clean virtual environment resolves `environment.yml`'s pip list
(a dry run: PyTorch's CPU index is out of reach here, and installing the list twice over would cost CI minutes);
then, in a fresh copy of the repository and a fresh virtual environment, `binder/postBuild` installs the package
and builds the demo workspace, and `binder/start` runs a Jupyter server whose Voilà renders the dashboard in a
browser, at the URL the README's Binder link opens."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import expect

from tests.e2e.conftest import ROOT, _free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DASHBOARD = "voila/render/notebooks/create_task.ipynb"  # README: mybinder.org/v2/gh/OWNER/REPO/HEAD?urlpath=<this>


def fresh_venv(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    return folder / "bin" / "python"


def test_environment_yml_resolves_in_a_clean_environment(tmp_path):
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    (tmp_path / "requirements.txt").write_text("\n".join(pip) + "\n")
    python = fresh_venv(tmp_path / "clean")
    dry_run = ["--dry-run", "--ignore-installed", "--retries", "0", "--timeout", "10", "-q", "--report", str(tmp_path / "report.json")]
    resolved = subprocess.run(
        [str(python), "-m", "pip", "install", *dry_run, "-r", str(tmp_path / "requirements.txt")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert resolved.returncode == 0, resolved.stderr[-3000:]
    names = {item["metadata"]["name"].lower() for item in json.loads((tmp_path / "report.json").read_text())["install"]}
    assert {"torch", "fastai", "timm", "voila", "pydicom", "ipywidgets"} <= names


def test_postbuild_then_start_serve_the_dashboard(tmp_path, browser):
    repo = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)  # what Binder checks out: committed files
    for script in ("postBuild", "start"):
        assert os.access(repo / "binder" / script, os.X_OK), f"binder/{script} must be executable"
    python = fresh_venv(tmp_path / "venv")
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True)
    # the dependencies: this environment's (installed from the same list); the package itself: postBuild's own install
    Path(site.stdout.strip(), "binder-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {**os.environ, "PATH": f"{python.parent}:{os.environ['PATH']}", "HOME": str(tmp_path / "home"), "PYTHONNOUSERSITE": "1"}
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")  # the data files (Voilà's templates) of those packages
    env.pop("DEEPQ_WORKSPACE", None)
    built = subprocess.run(["binder/postBuild"], cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    where = subprocess.run(
        [str(python), "-c", "import deepq_widgets; print(deepq_widgets.__file__)"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert where.stdout.startswith(str(repo)), where.stdout  # the package postBuild installed, not this checkout's
    assert (repo / "demo_workspace" / "datasets" / "ultrasound_lesions").is_dir()

    port = _free_port()
    server_args = ["--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=", "--ServerApp.password="]
    server_args.append("--ServerApp.jpserver_extensions={'voila': True}")
    if os.geteuid() == 0:  # CI runs as root; Binder as a user of its own
        server_args.append("--allow-root")
    log = open(tmp_path / "server.log", "wb")
    server = subprocess.Popen(
        ["binder/start", str(python), "-m", "jupyter_server", *server_args], cwd=repo, env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=5)
                break
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/{DASHBOARD}")
        expect(page.get_by_text("Create new task").first).to_be_visible(timeout=180_000)
        expect(page.get_by_text("workspace demo_workspace")).to_be_visible()  # binder/start pointed it at the demo
        page.screenshot(path=str(ROOT / "artifacts" / "e2e" / "binder-dashboard.png"), full_page=True)
        page.close()
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
        shutil.rmtree(repo / "demo_workspace", ignore_errors=True)
