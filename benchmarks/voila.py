"""Issue 10 (item 18): navigation to a usable wizard, and a page reload that reattaches a running task,
through `deepq serve` with its preheated kernel against `deepq serve --no-preheat`, side by side.

Each page load is timed in Debian's Chromium from navigation until the wizard's "Next ›" button (first
page) or the monitor's "Running" badge (reload during training) is on screen. The reload is measured
while a worker trains a task on one of the two cores (DEEPQ_THREADS=1), as a user would see it. Between
loads the preheated server is given time to refill its pool (a user does not reload every second).
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from tests.e2e.conftest import ARGS, CHROMIUM, served

from .common import demo_workspace, save

REPEAT = 3
POOL_READY = "is filled with 1 kernel(s)"


def wait_for_pool(log, filled: int, timeout: float = 120) -> None:
    """Until Voilà's log says the pool was filled `filled` times (a no-op without a pool)."""
    deadline = time.time() + timeout
    while time.time() < deadline and log().count(POOL_READY) < filled:
        time.sleep(0.2)


def timed_load(page, url: str, ready) -> float:
    start = time.perf_counter()
    page.goto(url)
    ready(page).wait_for(timeout=120_000)
    return time.perf_counter() - start


def measure(browser, ws, preheat: bool) -> dict:
    from deepq_widgets.spec import parse_spec
    from deepq_widgets.store import RUNNING, Store
    from deepq_widgets.tasks import stop, submit

    args = () if preheat else ("--no-preheat",)
    first, reload = [], []
    with served(ws, *args, env={"DEEPQ_THREADS": "1", "DEEPQ_WORKER_IDLE": "600"}) as (port, log):
        url = f"http://127.0.0.1:{port}/"
        for i in range(REPEAT):
            wait_for_pool(log, i + 1) if preheat else time.sleep(3)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            first.append(timed_load(page, url, lambda p: p.get_by_role("button", name="Next ›", exact=True)))
            page.close()
        spec = {
            "name": f"long-{'hot' if preheat else 'cold'}-{time.time():.0f}",
            "task": "single_label",
            "dataset": "ultrasound_lesions",
            "tuning": "manual",
            "model": {"arch": "tf_efficientnet_lite0.in1k"},
            "image_size": 64,
            "hyper": {"epochs": 200, "early_stop": False},
        }
        task_id = submit(ws, parse_spec(spec), start_worker=True)
        store = Store(ws.db_path)
        while store.task(task_id).state != RUNNING:
            time.sleep(0.5)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        for i in range(REPEAT):
            wait_for_pool(log, REPEAT + i + 2) if preheat else time.sleep(3)
            start = time.perf_counter()
            page.reload()
            page.locator(".dq-state-running").first.wait_for(timeout=120_000)
            reload.append(time.perf_counter() - start)
        page.close()
        stop(ws, task_id)
        while store.task(task_id).state == RUNNING:
            time.sleep(0.5)
    return {"first_page_s": statistics.median(first), "reload_while_training_s": statistics.median(reload), "runs": [first, reload]}


def main() -> dict:
    from playwright.sync_api import sync_playwright

    os.environ["DEEPQ_THREADS"] = "1"  # the worker trains on one core, the page loads on the other
    ws = demo_workspace()
    copy = Path(tempfile.mkdtemp()) / "ws"
    shutil.copytree(ws.root, copy, ignore=shutil.ignore_patterns("tasks", "models", "*.sqlite*", "voila-*.log"))
    from deepq_widgets.workspace import Workspace

    ws = Workspace(copy)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        preheated, cold = measure(browser, ws, preheat=True), measure(browser, ws, preheat=False)
        browser.close()
    return save(
        "voila",
        {
            "preheated": preheated,
            "cold": cold,
            "first_page_ratio_cold_to_preheated": cold["first_page_s"] / preheated["first_page_s"],
            "reload_ratio_cold_to_preheated": cold["reload_while_training_s"] / preheated["reload_while_training_s"],
        },
    )
