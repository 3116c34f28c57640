"""End-to-end: the real Voilà server on a demo workspace, driven in Debian's Chromium by Playwright.

Playwright never downloads a browser here; it drives /usr/bin/chromium. In CI (CI=true) a
missing Chromium fails the run; elsewhere these tests skip with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def playwright():
    """Playwright, once per module: a second instance cannot start while one runs."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is required in CI: apt-get install -y chromium (scripts/ensure_chromium.sh)")
        pytest.skip("Chromium is not installed; run scripts/ensure_chromium.sh to enable the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    yield b
    b.close()


@pytest.fixture(scope="module")
def e2e_ws(demo_root, tmp_path_factory):
    """The demo workspace plus `tiny_lesions` (30 cases, of which 3 filed under the wrong class on purpose, for the
    label review), so an Auto run finishes in about a minute,
    `headerless_lesions`: 30 others in one folder, named by DeepQ's `label.csv` without a header row, and
    `sited_lesions`: all 120 with the site each came from in a column of their `label.csv` (results by subgroup)."""
    from deepq_widgets.workspace import WorkspacePaths

    root = tmp_path_factory.mktemp("e2e") / "ws"
    shutil.copytree(demo_root, root)
    lesions, headerless = root / "datasets" / "ultrasound_lesions", root / "datasets" / "headerless_lesions"
    (headerless / "images").mkdir(parents=True)
    rows, tiny = [], root / "datasets" / "tiny_lesions"
    misfiled = {"benign": "malignant", "malignant": "normal", "normal": "benign"}
    for label in misfiled:
        (tiny / label).mkdir(parents=True)
    for label, wrong in misfiled.items():
        found = sorted((lesions / label).glob("*.png"))
        for path in found[:9]:
            shutil.copy(path, tiny / label / path.name)
        shutil.copy(found[25], tiny / wrong / found[25].name)  # e.g. malignant_025.png in normal/
        for path in found[10:20]:
            shutil.copy(path, headerless / "images" / f"{label}-{path.name}")
            rows.append(f"images/{label}-{path.name},{label}\n")
    (headerless / "label.csv").write_text("".join(rows))
    sited = root / "datasets" / "sited_lesions"
    (sited / "images").mkdir(parents=True)
    rows = ["path,class,site\n"]
    for k, path in enumerate(sorted(lesions.glob("*/*.png"))):
        shutil.copy(path, sited / "images" / path.name)
        rows.append(f"images/{path.name},{path.parent.name},{'Taipei' if k % 2 else 'Boston'}\n")
    (sited / "label.csv").write_text("".join(rows))
    return WorkspacePaths(root)


@contextlib.contextmanager
def served(ws, *args: str, env: dict | None = None):
    """`deepq serve` on `ws` (extra `args`), yielding (port, log text reader) once it answers."""
    port = _free_port()
    env = {**os.environ, "DEEPQ_WORKSPACE": str(ws.root), "DEEPQ_WORKER_IDLE": "5", "HF_HUB_OFFLINE": "1", **(env or {})}
    log_path = ws.root / f"voila-{port}.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "deepq_widgets.cli", "serve", "--workspace", str(ws.root), f"--port={port}", *args],
            cwd=ws.root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=5)
                    break
                except urllib.error.HTTPError:  # answering, even if it refuses this request
                    break
                except OSError:
                    time.sleep(0.5)
            else:
                pytest.fail("Voilà did not start: " + log_path.read_text()[-2000:])
            yield port, log_path.read_text
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture(scope="module")
def voila_url(e2e_ws):
    with served(e2e_ws) as (port, _):
        yield f"http://127.0.0.1:{port}/"
    stop_workers(e2e_ws)


def stop_workers(ws) -> None:
    """Leave no training behind: a stray worker would slow every later test on these 2 cores."""
    import signal

    from deepq_widgets.store import Store

    for worker in Store(ws.db_path).workers():
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker["pid"], signal.SIGTERM)


@pytest.fixture
def page(browser, voila_url, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.shots = Shots(pg, request.node.name)
    pg.elsewhere = []  # requests to any other host (a CDN): the dashboard must need none
    here = voila_url.split("/")[2]
    pg.on("request", lambda r: pg.elsewhere.append(r.url) if r.url.startswith("http") and r.url.split("/")[2] != here else None)
    yield pg
    context.close()


class Shots:
    """Screenshots of each step, kept as test artifacts (artifacts/ is git-ignored)."""

    def __init__(self, page, test: str):
        self.page, self.folder, self.n = page, ARTIFACTS / test, 0
        self.folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str) -> None:
        """The page at 1400 px and at 1024 px wide (a laptop), then back to 1400."""
        self.n += 1
        size = self.page.viewport_size
        self.page.screenshot(path=str(self.folder / f"{self.n:02d}-{name}.png"), full_page=True)
        self.page.set_viewport_size({"width": 1024, "height": 768})
        self.page.screenshot(path=str(self.folder / f"{self.n:02d}-{name}-1024.png"), full_page=True)
        self.page.set_viewport_size(size)


@pytest.fixture(scope="module")
def remote_browser(playwright, tmp_path_factory):
    """Chromium on another host: a network namespace of its own, joined to this one by a veth pair, so that
    127.0.0.1 is its own loopback and the dashboard is only reachable at `address` (needs root and iproute2,
    as in CI). Yields (browser, address of this host as the other one sees it)."""
    name, here, there = f"dq-e2e-{os.getpid()}", f"dqh{os.getpid()}", f"dqc{os.getpid()}"
    subnet = f"10.231.{os.getpid() % 250}"
    commands = [
        ["ip", "netns", "add", name],
        ["ip", "link", "add", here, "type", "veth", "peer", "name", there],
        ["ip", "link", "set", there, "netns", name],
        ["ip", "addr", "add", f"{subnet}.1/24", "dev", here],
        ["ip", "link", "set", here, "up"],
        ["ip", "netns", "exec", name, "ip", "addr", "add", f"{subnet}.2/24", "dev", there],
        ["ip", "netns", "exec", name, "ip", "link", "set", there, "up"],
        ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
    ]
    try:
        for command in commands:
            subprocess.run(command, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        why = f"a second host needs root and iproute2 (ip netns): {getattr(exc, 'stderr', '') or exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    wrapper = tmp_path_factory.mktemp("remote") / "chromium"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {name} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    try:
        b = playwright.chromium.launch(executable_path=str(wrapper), args=ARGS, headless=True)
        yield b, f"{subnet}.1"
        b.close()
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", here], capture_output=True, check=False)
