"""The worker process: queueing, stop, recovery after kill -9, and bad data, with real processes."""

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepq_widgets.contracts import DataProblemsEvent, EpochEvent, StatusEvent
from deepq_widgets.spec import TaskSpec
from deepq_widgets.store import ERROR, FINISHED, RUNNING, STOPPED, Store
from deepq_widgets.tasks import reap_interrupted, resume, stop, submit, worker_alive
from tests.training.conftest import general_spec

pytestmark = pytest.mark.slow

TINY = {"hyper__early_stop": False, "hyper__batch_size": 16, "image_size": 64, "hyper__valid_pct": 20}


@pytest.fixture(autouse=True)
def quick_idle_exit(monkeypatch):
    monkeypatch.setenv("DEEPQ_WORKER_IDLE", "3")
    monkeypatch.setenv("DEEPQ_THREADS", "2")


def tiny_spec(ws, capsys, name, epochs, dataset="ultrasound_lesions"):
    spec = general_spec(
        ws,
        capsys,
        "single_label",
        dataset,
        name,
        **TINY,
        hyper__epochs=epochs,
    )
    return TaskSpec.model_validate(spec)


def wait_for(predicate, timeout=240, every=0.3):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError("condition not reached")


def plant_modules(ws) -> Path:
    """Modules named like the worker's dependencies (and like this package) in the workspace root:
    importing any of them leaves a marker file."""
    marker = ws.root / "planted-code-ran"
    code = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n"
    for name in ("numpy.py", "torch.py", "fastai.py", "optuna.py"):
        (ws.root / name).write_text(code)
    (ws.root / "deepq_widgets").mkdir()
    (ws.root / "deepq_widgets" / "__init__.py").write_text(code)
    return marker


def test_two_tasks_run_one_after_the_other(demo_copy, capsys):
    marker = plant_modules(demo_copy)
    first = submit(demo_copy, tiny_spec(demo_copy, capsys, "first", 2))
    second = submit(demo_copy, tiny_spec(demo_copy, capsys, "second", 2))
    store = Store(demo_copy.db_path)
    assert store.task(second).state == "waiting"
    wait_for(lambda: all(store.task(t).state in (FINISHED, ERROR) for t in (first, second)))
    a, b = store.task(first), store.task(second)
    assert a.state == b.state == FINISHED, (a.error, b.error)
    assert b.started >= a.ended  # one at a time
    assert a.model_id and b.model_id and a.compute_s > 0
    wait_for(lambda: not worker_alive(demo_copy), timeout=30)  # the idle worker exits on its own
    assert not marker.exists(), f"the worker ran code from the workspace: {marker.read_text()}"


def test_a_worker_that_cannot_start_is_reported_not_restarted(demo_copy, capsys, monkeypatch):
    import subprocess
    import sys

    from deepq_widgets.tasks import WorkerFailed, ensure_worker

    spec = tiny_spec(demo_copy, capsys, "never", 1)
    monkeypatch.setenv("DEEPQ_THREADS", "two")
    task_file = demo_copy.root / "never.json"
    task_file.write_text(spec.to_json())
    started = time.time()
    run = subprocess.run(
        [sys.executable, "-m", "deepq_widgets.cli", "run", str(task_file), "--workspace", str(demo_copy.root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0 and "DEEPQ_THREADS must be a whole number" in run.stderr, run.stderr
    assert time.time() - started < 60  # said within seconds, not after a minute of restarts
    with pytest.raises(WorkerFailed, match="DEEPQ_THREADS"):
        ensure_worker(demo_copy)  # not started again until the retry delay has passed
    log = (demo_copy.tasks / "worker.log").read_text()
    assert log.count("DEEPQ_THREADS must be") <= 2  # one start (its traceback), not one a second
    assert Store(demo_copy.db_path).tasks()[0].state == "waiting"  # the task still waits for a worker


def test_stop_ends_the_task_as_stopped(demo_copy, capsys):
    task_id = submit(demo_copy, tiny_spec(demo_copy, capsys, "long", 200))
    store = Store(demo_copy.db_path)
    wait_for(lambda: store.task(task_id).epoch >= 1)
    stop(demo_copy, task_id)
    wait_for(lambda: store.task(task_id).state != RUNNING, timeout=60)
    row = store.task(task_id)
    assert row.state == STOPPED and row.epoch < 200
    assert any(e.kind == "stop_requested" for e in store.events(task_id))


def test_kill_9_mid_epoch_then_resume_finishes(demo_copy, capsys):
    task_id = submit(demo_copy, tiny_spec(demo_copy, capsys, "killed", 6))
    store = Store(demo_copy.db_path)
    wait_for(lambda: len(store.events(task_id, EpochEvent)) >= 2)
    pid = store.task(task_id).worker_pid
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not worker_alive(demo_copy), timeout=30)
    assert reap_interrupted(store) == [task_id]
    row = store.task(task_id)
    assert row.state == ERROR and f"deepq resume {task_id}" in row.error
    done_before = {e.epoch for e in store.events(task_id, EpochEvent)}
    resume(demo_copy, task_id)
    wait_for(lambda: store.task(task_id).state in (FINISHED, ERROR))
    row = store.task(task_id)
    assert row.state == FINISHED, row.error
    after = [e.epoch for e in store.events(task_id, EpochEvent)][len(done_before) :]
    assert after and min(after) > min(done_before) and max(after) == 5  # continued, not restarted
    assert any("Resumed from the checkpoint" in e.message for e in store.events(task_id, StatusEvent))


def test_corrupt_image_is_skipped_and_reported(demo_copy, capsys):
    folder = demo_copy.datasets / "ultrasound_lesions" / "benign"
    victim = sorted(folder.glob("*.png"))[0]
    raw = bytearray(victim.read_bytes())
    raw[60:400] = np.random.default_rng(0).integers(0, 255, 340, dtype=np.uint8).tobytes()  # damage IDAT, keep IEND
    victim.write_bytes(bytes(raw))
    with pytest.raises((OSError, SyntaxError)):  # PIL's errors for a damaged stream
        Image.open(victim).load()
    task_id = submit(demo_copy, tiny_spec(demo_copy, capsys, "corrupt", 1))
    store = Store(demo_copy.db_path)
    wait_for(lambda: store.task(task_id).state in (FINISHED, ERROR))
    assert store.task(task_id).state == FINISHED
    problems = [p for e in store.events(task_id, DataProblemsEvent) for p in e.problems]
    assert any(victim.name in p for p in problems)


def test_a_dataset_that_no_longer_fits_is_an_error_not_a_hang(demo_copy, capsys):
    from deepq_widgets.tasks import ensure_worker

    task_id = submit(demo_copy, tiny_spec(demo_copy, capsys, "gone", 1), start_worker=False)  # it fit when submitted
    (demo_copy.datasets / "ultrasound_lesions" / "label.csv").write_text("file,label\n")  # now a broken CSV layout
    ensure_worker(demo_copy)
    store = Store(demo_copy.db_path)
    wait_for(lambda: store.task(task_id).state in (FINISHED, ERROR), timeout=120)
    row = store.task(task_id)
    assert row.state == ERROR and "cannot train this task" in row.error and row.traceback
