"""A worker with two slots runs two tasks at once, each in its own process with its share of the
cores; a killed task process is reaped alone and its task resumes in a free slot."""

import os
import signal

import pytest

from deepq_widgets.contracts import EpochEvent
from deepq_widgets.liveness import pid_alive
from deepq_widgets.store import ERROR, FINISHED, RUNNING, Store
from deepq_widgets.tasks import reap_interrupted, resume, submit
from tests.training.test_worker import plant_modules, tiny_spec, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def two_slots(monkeypatch):
    monkeypatch.setenv("DEEPQ_WORKER_IDLE", "5")
    monkeypatch.setenv("DEEPQ_WORKER_SLOTS", "2")
    monkeypatch.setenv("DEEPQ_THREADS", "2")  # one thread per slot: the two tasks never oversubscribe the cores


def test_two_slots_run_two_tasks_at_once(demo_copy, capsys):
    marker = plant_modules(demo_copy)  # the task processes start in the workspace: nothing there is imported
    first = submit(demo_copy, tiny_spec(demo_copy, capsys, "left", 3))
    second = submit(demo_copy, tiny_spec(demo_copy, capsys, "right", 3))
    store = Store(demo_copy.db_path)
    both = wait_for(
        lambda: [store.task(t) for t in (first, second)] if all(store.task(t).state == RUNNING for t in (first, second)) else None
    )
    assert both[0].worker_pid != both[1].worker_pid  # a process each, not the worker's
    wait_for(lambda: all(store.task(t).state in (FINISHED, ERROR) for t in (first, second)), timeout=600)
    a, b = store.task(first), store.task(second)
    assert a.state == b.state == FINISHED, (a.error, b.error)
    assert a.model_id and b.model_id
    assert max(a.started, b.started) < min(a.ended, b.ended)  # side by side, not one after the other
    assert not marker.exists(), f"a task process ran code from the workspace: {marker.read_text()}"


def test_a_killed_task_process_is_reaped_alone_and_resumes(demo_copy, capsys):
    killed = submit(demo_copy, tiny_spec(demo_copy, capsys, "killed", 6))
    other = submit(demo_copy, tiny_spec(demo_copy, capsys, "other", 3))
    store = Store(demo_copy.db_path)
    wait_for(lambda: len(store.events(killed, EpochEvent)) >= 1, timeout=300)
    os.kill(store.task(killed).worker_pid, signal.SIGKILL)
    wait_for(lambda: store.task(killed).state == ERROR, timeout=60)  # the worker noticed, and stays
    assert f"deepq resume {killed}" in store.task(killed).error
    resume(demo_copy, killed)
    wait_for(lambda: all(store.task(t).state in (FINISHED, ERROR) for t in (killed, other)), timeout=600)
    assert store.task(killed).state == store.task(other).state == FINISHED, (store.task(killed).error, store.task(other).error)
    assert max(e.epoch for e in store.events(killed, EpochEvent)) == 5

    orphaned = submit(demo_copy, tiny_spec(demo_copy, capsys, "orphaned", 50))  # the worker killed: its task process too
    wait_for(lambda: len(store.events(orphaned, EpochEvent)) >= 1, timeout=300)
    task_process = store.task(orphaned).worker_pid
    for worker in store.workers():
        os.kill(worker["pid"], signal.SIGKILL)
    wait_for(lambda: not pid_alive(task_process), timeout=30)
    assert reap_interrupted(store) == [orphaned] and store.task(orphaned).state == ERROR
