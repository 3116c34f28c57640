"""Task list, live monitor and task detail on real tasks in the store."""

import base64
import json
import os
import re

import pytest

from deepq_widgets.app import build_app
from deepq_widgets.contracts import EpochEvent, Metrics, StatusEvent
from deepq_widgets.spec import parse_spec
from deepq_widgets.store import Store
from tests.conftest import held_out_set_beside
from tests.training.conftest import general_spec, make_spec, run_in_process


def wait_until(predicate, timeout=120):
    import time

    end = time.time() + timeout
    while time.time() < end and not predicate():
        time.sleep(0.2)


@pytest.fixture
def trained(demo_copy, capsys):
    spec = general_spec(
        demo_copy,
        capsys,
        "single_label",
        "ultrasound_lesions",
        "tiny",
        hyper__epochs=2,
        image_size=64,
        hyper__early_stop=False,
    )
    row, _ = run_in_process(demo_copy, spec)
    assert row.state == "finished", row.error
    return demo_copy, row


@pytest.mark.slow
def test_monitor_and_detail_of_a_finished_task(trained):
    ws, row = trained
    app = build_app(ws, poll_interval=60, start_worker=False)
    try:
        assert app.task_list.choice.options[0] == (f"#{row.id} tiny — Finished — 100%", row.id)
        app.task_list.choice.value = row.id
        m = app.monitor
        assert m.progress.value == 1.0 and "Finished" in m.header.value and m.stop.layout.display == "none"  # nothing to stop
        assert m.loss_plot.layout.display is None and m.metric_plot.layout.display is None
        assert "Epoch 2 / 2" in m.status.value and "compute" in m.status.value
        assert m.loss_plot.value[:4] == b"\x89PNG" and m.metric_plot.value[:4] == b"\x89PNG"
        d = app.detail
        assert "&quot;name&quot;: &quot;tiny&quot;" in d.spec.value and "task file" in d.spec.value
        assert "training and" in d.data.value and "benign" in d.data.value
        assert "too early" in d.training.value.lower() or "fit" in d.training.value.lower()
        assert "Class balance of the training cases: benign" in d.training.value  # SPEC 5: in the training insight
        assert "hyper.lr" in d.spec.value and "<td>0.001</td>" not in d.data.value  # settings as a table, the JSON folded
        e = d.evaluation
        assert "average" in e.figures.value and "report (HTML)" in d.download.value
        assert len(e.charts.children) == 4  # ROC, PR, confusion matrix, reliability diagram
        assert e.charts.layout.flex_flow == "row wrap" and all(c.layout.max_width == "100%" for c in e.charts.children)  # never clipped
        assert "True positives" in e.gallery.value and "data:image/png" in e.gallery.value
        validation_charts = [c.value for c in e.charts.children]
        assert e.which.layout.display is None and e.which.value == "Validation set"  # DeepQ's validation/training toggle
        e.which.value = "Training set"
        assert "training cases" in e.figures.value and "the figures are optimistic" in e.figures.value
        assert [c.value for c in e.charts.children] != validation_charts and len(e.charts.children) == 4
        report_html = base64.b64decode(re.findall(r"base64,([^']+)'", d.download.value)[0]).decode()
        assert "Evaluation (training cases)" in report_html and "<td>hyper.lr</td>" in report_html  # a table, not raw JSON
        assert "<h2>Data</h2><p>" in report_html and "<th>class</th><th>train</th><th>valid</th>" in report_html
        assert app.models.choice.options[0][1] == row.model_id
        app.models.choice.value = row.model_id
        assert "dq-big" in app.models.evaluations.value and "95% interval" in app.models.evaluations.value  # the headline card
        assert app.models.report.figures.value and app.models.report.which.layout.display is None  # the model report, toggle too
        assert app.models.inference.layout.display == "none" and not app.models.inferences.value  # no inference runs yet
        app.models.format.value = "safetensors"
        app.models.export.click()
        assert app.models.export.disabled and app.models.run.disabled and app.models.evaluate.disabled  # one job at a time
        started = []
        app.models._background(lambda: started.append(1) or "second")  # a click meanwhile starts nothing
        wait_until(lambda: "Exported to" in app.models.result.value or "dq-reason" in app.models.result.value)
        assert not started and not app.models.export.disabled
        exported = ws.root / "exports" / f"{row.model_id}.safetensors"
        assert "Exported to" in app.models.result.value and exported.is_file()
        links = dict(re.findall(r"download='([^']+)' href='data:[^;]+;base64,([^']+)'", app.models.result.value))
        assert base64.b64decode(links[exported.name]) == exported.read_bytes()  # the browser gets the file itself
        assert json.loads(base64.b64decode(links[f"{row.model_id}.json"]))["id"] == row.model_id  # and its model card
        e.which.value = "Validation set"
        assert "validation cases" in e.figures.value and "95% intervals" in e.figures.value  # how many cases, and intervals
        assert app.models.dataset.value is None and app.models.evaluate.disabled and app.models.run.disabled  # no dataset yet
        app.models.dataset.value = "ultrasound_lesions"  # its own training data: refused, with the reason
        app.models.evaluate.click()
        wait_until(lambda: "dq-reason" in app.models.result.value or "95% intervals" in app.models.result.value)
        assert "was used to train or select the model" in app.models.result.value and "never saw" in app.models.result.value
        held_out_set_beside(ws, "ultrasound_lesions", "lesions_test", per_label=40, seen_every=4)  # 30 of 120 seen
        app.models.refresh()
        app.models.dataset.value = "lesions_test"
        seen, shown, bar = [], app.models._progress, []
        app.models._progress = lambda line: (seen.append(line), shown(line), bar.append(app.models.bar.value))  # lines reach the page
        app.models.evaluate.click()
        wait_until(lambda: "95% intervals" in app.models.result.value or "dq-reason" in app.models.result.value)
        assert "95% intervals" in app.models.result.value and "report (HTML)" in app.models.result.value
        note = "Scored on the 90 of 120 cases the model never saw"
        assert app.models.result.value.index(note) < app.models.result.value.index("95% intervals")  # said before the figures
        assert "lesions_test" in app.models.evaluations.value and note in app.models.evaluations.value  # listed on the model
        assert any(line.startswith("scoring") for line in seen)
        assert bar[-1] == 1.0 and 0 < min(bar) < 1  # the bar moved through the stages and ended full
        app.models.run.click()  # predict on the whole dataset
        wait_until(lambda: "images</h3>" in app.models.result.value or "dq-reason" in app.models.result.value, timeout=300)
        view = app.models.predictions
        assert "120 images" in app.models.result.value and "1–12 of 120" in view.where.value
        assert view.grid.value.count("<img") == 12 and "→" in view.grid.value  # thumbnails with class, score, decision
        (csv_b64,) = re.findall(r"href='data:text/csv;base64,([^']+)'", view.download.value)
        lines = base64.b64decode(csv_b64).decode().splitlines()
        assert len(lines) == 121 and lines[0].startswith("image,summary,decision,benign")  # every row, not the first 50
        assert lines[1].startswith("lesions_test/benign/") and str(ws.root) not in "".join(lines)  # never the server's path
        assert all((ws.root / r.heatmap_file).is_file() for r in view.rows)  # the heatmaps drawn over the thumbnails
        view.next.click()
        assert "13–24 of 120" in view.where.value and view.previous.disabled is False
        listed = app.models.inferences.value  # the run is on the model page's inference list, with its first image
        assert "Inference list (1)" in listed and "<td>lesions_test</td><td>120</td>" in listed and "data:image/png" in listed
        assert re.search(r"<td>\d\.\d\d \(\d\.\d\d–\d\.\d\d\)</td>", listed)  # the accuracy of that dataset's evaluation
        assert app.models.inference.value == "lesions_test"
        app.models.inference.value = None
        assert view.widget.layout.display == "none"
        app.models.inference.value = "lesions_test"  # shown again from what was kept, without predicting again
        assert "1–12 of 120" in view.where.value and view.grid.value.count("<img") == 12
        assert app.models.bar.layout.display == "none"  # and is hidden once the evaluation is shown
    finally:
        app.close()


def test_stop_from_the_monitor_and_reattach(demo_copy, capsys):
    spec = make_spec(
        demo_copy, capsys, "--flow", "general", "--task", "single_label", "--dataset", "ultrasound_lesions", "--name", "queued"
    )
    store = Store(demo_copy.db_path)
    waiting = store.submit(parse_spec(spec))
    app = build_app(demo_copy, poll_interval=60, start_worker=False)
    try:
        app.task_list.choice.value = waiting
        assert not app.monitor.stop.disabled and app.monitor.stop.layout.display is None
        assert app.monitor.loss_plot.layout.display == "none"  # no epoch yet: no chart, no broken-image icon
        assert "Epoch 0 / ?" in app.monitor.status.value  # Auto plans its epochs when it runs, not the file's 100
        app.monitor.stop.click()
        assert store.task(waiting).state == "stopped"
        app.refresh_tasks()
        assert "Stopped" in app.monitor.header.value and app.monitor.stop.layout.display == "none"
        assert app.monitor.stop.description == "Stop"  # not left at "Stopping…"
        app.task_list.filter.value = "Stopped"
        assert [v for _, v in app.task_list.choice.options] == [waiting]
    finally:
        app.close()
    running = store.submit(parse_spec(spec | {"name": "running"}))
    store.claim_next(os.getpid())  # "running" under a live process, as a worker would hold it
    again = build_app(demo_copy, poll_interval=60, start_worker=False)
    try:
        assert again.tabs.selected_index == 1 and again.monitor.task_id == running and "Running" in again.monitor.header.value
        store.add_event(running, StatusEvent(message="Decoding 12,000 of 20,000 cases into the cache"))
        again.refresh_tasks()
        assert "Decoding 12,000 of 20,000 cases" in again.monitor.status.value  # what the worker is doing now
        store.add_event(
            running, EpochEvent(epoch=0, train_loss=0.9, valid_loss=0.8, metrics=Metrics(headline={}), lr=1e-3, seconds=1.0, best=True)
        )
        again.refresh_tasks()
        assert "Decoding" not in again.monitor.status.value  # done with once an epoch has run since
        store.add_event(running, StatusEvent(message="Refitting on all cases"))
        again.refresh_tasks()
        assert "Refitting on all cases" in again.monitor.status.value
        store.set_state(running, "finished")
        again.refresh_tasks()
        assert "Refitting" not in again.monitor.status.value  # said only while it runs
    finally:
        again.close()


def test_a_preheated_app_catches_up_when_its_page_opens(demo_copy, capsys, monkeypatch):
    """Under `deepq serve` the app is built before anyone opens the page; when one does, it follows the task
    that started meanwhile and polls again even if it had paused for want of a page."""
    monkeypatch.setenv("DEEPQ_PAGE_IDLE_S", "0.3")
    app = build_app(demo_copy, poll_interval=0.1, start_worker=False)
    try:
        wait_until(lambda: not app.poller.thread.is_alive(), timeout=10)
        assert not app.poller.thread.is_alive() and "Updates paused" in app.notice.value  # nobody came for a while
        spec = make_spec(
            demo_copy, capsys, "--flow", "general", "--task", "single_label", "--dataset", "ultrasound_lesions", "--name", "meanwhile"
        )
        store = Store(demo_copy.db_path)
        running = store.submit(parse_spec(spec))
        store.claim_next(os.getpid())
        assert app.monitor.task_id is None
        monkeypatch.setenv("DEEPQ_PAGE_IDLE_S", "60")
        app.page_opened()
        assert app.monitor.task_id == running and app.tabs.selected_index == 1 and "Running" in app.monitor.header.value
        assert app.poller.thread.is_alive() and "Updates paused" not in app.notice.value
        for _ in range(3):  # reloads while it runs: its monitor each time, though the app followed it already
            app.tabs.selected_index = 0
            app.page_opened()
            assert app.tabs.selected_index == 1 and app.monitor.task_id == running
        store.set_state(running, "stopped")  # built while a task ran; the page opens after it ended
        app.page_opened()
        assert app.tabs.selected_index == 0  # a fresh page shows the wizard again
        waiting = store.submit(parse_spec(spec | {"name": "queued"}))  # a reload while a task waits for the worker
        app.page_opened()
        assert app.tabs.selected_index == 1 and app.monitor.task_id == waiting and "Waiting" in app.monitor.header.value
    finally:
        app.close()


def test_poller_updates_the_page_without_a_click(demo_copy, capsys):
    import time

    app = build_app(demo_copy, poll_interval=0.2, start_worker=False)
    try:
        spec = make_spec(
            demo_copy, capsys, "--flow", "general", "--task", "single_label", "--dataset", "ultrasound_lesions", "--name", "later"
        )
        task_id = Store(demo_copy.db_path).submit(parse_spec(spec))
        deadline = time.time() + 5
        while time.time() < deadline and task_id not in [v for _, v in app.task_list.choice.options]:
            time.sleep(0.1)
        assert task_id in [v for _, v in app.task_list.choice.options] and not app.poller.errors
    finally:
        app.close()
    time.sleep(0.5)
    assert not app.poller.thread.is_alive()  # a closed app's poller ends


def test_a_page_nobody_uses_stops_updating_so_its_kernel_can_be_culled(demo_copy, monkeypatch):
    import time

    monkeypatch.setenv("DEEPQ_PAGE_IDLE_S", "1")
    app = build_app(demo_copy, poll_interval=0.1, start_worker=False)
    try:
        app.activity.touch()
        time.sleep(0.5)
        assert app.poller.thread.is_alive()  # in use: still updating
        deadline = time.time() + 5
        while time.time() < deadline and app.poller.thread.is_alive():
            time.sleep(0.1)
        assert not app.poller.thread.is_alive() and "Updates paused" in app.notice.value
    finally:
        app.close()


def test_the_page_activity_hears_every_widget_message_under_a_kernel():
    from deepq_widgets.widgets.poller import PageActivity

    class Kernel:
        def __init__(self):
            self.handled = []
            self.shell_handlers = {"comm_msg": lambda *args: self.handled.append(args) or "done"}

    class Shell:
        kernel = Kernel()

    import IPython

    original = IPython.get_ipython
    IPython.get_ipython = lambda: Shell()
    try:
        activity = PageActivity()
    finally:
        IPython.get_ipython = original
    activity.last -= 100
    assert Shell.kernel.shell_handlers["comm_msg"]("stream", "idents", {"msg": 1}) == "done"  # still handled
    assert Shell.kernel.handled and activity.idle_for() < 1


def test_the_dashboards_children_import_nothing_from_the_workspace(demo_copy, monkeypatch):
    """The Models tab runs `deepq` commands in child processes (`python -I`): modules planted in the workspace,
    named like their dependencies, are never imported, whatever the kernel's working directory."""
    from deepq_widgets.widgets.child_commands import deepq
    from tests.training.test_worker import plant_modules

    marker = plant_modules(demo_copy)
    monkeypatch.chdir(demo_copy.root)
    monkeypatch.setenv("PYTHONPATH", str(demo_copy.root))
    assert json.loads(deepq(demo_copy, "models", "--json")) == []
    assert not marker.exists(), f"a child of the dashboard ran code from the workspace: {marker.read_text()}"
