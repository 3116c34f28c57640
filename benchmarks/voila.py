"""Issue 5: page load to a usable wizard under Voilà, against Voilà's own start on a trivial notebook.

Both notebooks are served by the same Voilà process and loaded alternately in Debian's
Chromium; the difference is what our app adds (target: under 3 s).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat

from tests.e2e.conftest import ARGS, CHROMIUM

from .common import demo_workspace, save

ROOT = Path(__file__).resolve().parents[1]


CONFIG = f"--Voila.config_file_paths={[str(ROOT / 'notebooks')]!r}"  # the dashboard's voila.json


def main() -> dict:
    from playwright.sync_api import sync_playwright

    ws = demo_workspace()
    folder = Path(tempfile.mkdtemp())
    nb = nbformat.read(ROOT / "notebooks" / "create_task.ipynb", as_version=4)
    nbformat.write(nb, folder / "app.ipynb")
    trivial = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import ipywidgets as w\nw.Button(description='Ready')")])
    trivial.metadata["kernelspec"] = nb.metadata["kernelspec"]
    nbformat.write(trivial, folder / "trivial.ipynb")
    env = {**os.environ, "DEEPQ_WORKSPACE": str(ws.root), "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "voila", "--no-browser", "--port=8899", str(folder), CONFIG],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen("http://127.0.0.1:8899/", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        app, base = [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            for _ in range(3):
                for url, text, out in (("voila/render/trivial.ipynb", "Ready", base), ("voila/render/app.ipynb", "Next ›", app)):
                    page = browser.new_page()
                    start = time.perf_counter()
                    page.goto(f"http://127.0.0.1:8899/{url}")
                    page.get_by_role("button", name=text, exact=True).wait_for(timeout=120_000)
                    out.append(time.perf_counter() - start)
                    page.close()
            browser.close()
    finally:
        server.terminate()
    return save(
        "voila",
        {
            "trivial_notebook_s": statistics.median(base),
            "dashboard_s": statistics.median(app),
            "dashboard_minus_voila_s": statistics.median(app) - statistics.median(base),
            "runs": {"trivial": base, "app": app},
        },
    )
