"""Issue 5, kernel side: build_app time, wizard step transitions (< 100 ms), zoo filtering (< 50 ms)."""

from __future__ import annotations

import subprocess
import sys
import time

from .common import demo_workspace, save, timeit


def main() -> dict:
    ws = demo_workspace()
    code = (
        f"import time; t = time.perf_counter(); from deepq_widgets import build_app; a = build_app({str(ws.root)!r}, start_worker=False); "
        "print(time.perf_counter() - t); a.close()"
    )
    build = min(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout) for _ in range(3))

    from deepq_widgets import kinds, zoo
    from deepq_widgets.app import build_app
    from deepq_widgets.wizard import Step

    app = build_app(ws, poll_interval=3600, start_worker=False)
    app.catalog.ready.wait(60)
    transitions = {}

    def step(name, action):
        start = time.perf_counter()
        action()
        transitions[name] = time.perf_counter() - start

    step("flow -> General", lambda: app.views[Step.flow].cards["general"].button.click())
    step("Next (task type)", app.shell.next.click)
    step("choose task", lambda: app.views[Step.task].cards["single_label"].button.click())
    step("Next (dataset)", app.shell.next.click)
    step("choose dataset (with preview)", lambda: setattr(app.views[Step.dataset].choice, "value", "chest_xray_pneumothorax"))
    step("Next (model, Auto)", app.shell.next.click)
    step("switch to Manual (zoo)", lambda: setattr(app.views[Step.model].manual, "value", True))
    step("zoo search typed: 'res'", lambda: setattr(app.views[Step.model].browser.search, "value", "res"))
    step("Next (start)", app.shell.next.click)
    step("Back", app.shell.back.click)
    app.close()
    zoo.query()
    fits = kinds.get("detection").fits_network
    filtering = {q: timeit(lambda q=q: zoo.query(fits=fits, text=q), repeat=20) for q in ["", "res", "convnext in22k", "lite"]}
    return save("ui", {"build_app_s": build, "step_transition_s": transitions, "zoo_query_s": filtering})
