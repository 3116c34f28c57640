"""The elapsed time of a task counts the time it ran, not the time it waited between runs."""

from unittest import mock

from deepq_widgets.spec import parse_spec
from deepq_widgets.store import STOPPED, Store

SPEC = {"name": "clock", "flow": "general", "task": "single_label", "dataset": "any", "tuning": "auto"}


def test_a_resumed_task_goes_on_from_the_time_it_had_run(tmp_path):
    store = Store(tmp_path / "tasks.sqlite")
    task_id = store.submit(parse_spec(SPEC))
    assert store.task(task_id).elapsed(now=1_000.0) == 0.0  # waiting: no clock yet
    with mock.patch("time.time", return_value=1_000.0):
        store.claim_next(pid=1)
    with mock.patch("time.time", return_value=1_040.0):
        store.set_state(task_id, STOPPED)
    assert store.task(task_id).elapsed(now=5_000.0) == 40.0
    with mock.patch("time.time", return_value=4_000.0):  # resumed an hour later: still 40 s while it waits
        store.requeue(task_id)
    assert store.task(task_id).elapsed(now=4_004.0) == 40.0
    with mock.patch("time.time", return_value=4_010.0):
        store.claim_next(pid=1)
    assert store.task(task_id).elapsed(now=4_014.0) == 44.0  # 40 s before, 4 s since it started again
