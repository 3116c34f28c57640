"""Liveness from any host: a task claimed on another host (or in another pid namespace) is never reaped by a
pid lookup here, only when its heartbeat lease runs out; one of this host with a dead process is reaped at once."""

import os
import subprocess
import sys
import time

import pytest

from deepq_widgets.liveness import STALE_S, this_host
from deepq_widgets.spec import parse_spec
from deepq_widgets.store import ERROR, RUNNING, Store
from deepq_widgets.tasks import reap_interrupted

SPEC = {"flow": "general", "task": "single_label", "dataset": "any", "tuning": "auto"}
FREE_PID = 2**22 + 12_345  # above any pid_max: no process here has it


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "tasks.sqlite")


def claimed(store: Store, name: str, pid: int, host: str | None = None) -> int:
    task_id = store.submit(parse_spec({**SPEC, "name": name}))
    assert store.claim_next(pid, host=host).id == task_id
    return task_id


def test_a_task_of_another_host_lives_while_its_lease_does(store):
    elsewhere = claimed(store, "on node b", FREE_PID, host="node-b/1234abcd/4026531836")
    assert reap_interrupted(store) == [] and store.task(elsewhere).state == RUNNING  # its pid means nothing here
    assert reap_interrupted(store, now=time.time() + STALE_S + 1) == [elsewhere]  # its lease ran out: interrupted
    assert store.task(elsewhere).state == ERROR and f"deepq resume {elsewhere}" in store.task(elsewhere).error


def test_a_task_of_this_host_whose_process_died_is_reaped_at_once(store):
    here = claimed(store, "here, dead", FREE_PID)
    alive = claimed(store, "here, alive", os.getpid())
    assert store.task(here).worker_host == this_host()
    assert reap_interrupted(store) == [here] and store.task(alive).state == RUNNING


def test_a_reap_never_overwrites_a_task_another_process_claimed_meanwhile(store):
    task_id = claimed(store, "reclaimed", FREE_PID, host="node-b")
    read_before = store.task(task_id)
    store.hand_over(task_id, os.getpid())  # it moved on meanwhile
    assert not store.fail_if_running(read_before, "stale read") and store.task(task_id).state == RUNNING


def test_another_pid_namespace_is_another_host():
    """A container on this machine counts pids of its own: its identity differs from the host's."""
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs as root: unshare needs it")
        pytest.skip("a pid namespace of its own needs root (unshare)")
    code = "from deepq_widgets.liveness import this_host; print(this_host())"
    inside = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert inside.returncode == 0, inside.stderr
    assert inside.stdout.strip() != this_host() and inside.stdout.split("/")[0] == this_host().split("/")[0]


def test_an_older_store_gains_the_host_column(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # the tasks table as the first release made it
        db.execute(
            "CREATE TABLE tasks (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, spec TEXT NOT NULL, state TEXT NOT NULL,"
            " created REAL NOT NULL, started REAL, ended REAL, heartbeat REAL, worker_pid INTEGER, progress REAL NOT NULL DEFAULT 0,"
            " epoch INTEGER NOT NULL DEFAULT 0, epochs INTEGER NOT NULL DEFAULT 0, compute_s REAL NOT NULL DEFAULT 0,"
            " stop_requested INTEGER NOT NULL DEFAULT 0, resume INTEGER NOT NULL DEFAULT 0, metrics TEXT NOT NULL DEFAULT '{}',"
            " error TEXT, traceback TEXT, model_id TEXT)"
        )
    store = Store(path)
    task_id = claimed(store, "after the upgrade", os.getpid())
    assert store.task(task_id).worker_host == this_host()


def test_the_store_leaves_wal_off_on_a_network_file_system(tmp_path, capsys):
    from pathlib import Path

    from deepq_widgets.store import file_system, journal_mode

    mounts = "/dev/sda1 / ext4 rw 0 0\nfiler:/export /shared nfs4 rw,relatime 0 0\ntmpfs /shared/scratch tmpfs rw 0 0\n"
    assert file_system(Path("/shared/ws"), mounts) == "nfs4" and file_system(Path("/shared/scratch/ws"), mounts) == "tmpfs"
    assert journal_mode(Path("/shared/ws/deepq.sqlite"), mounts) == "DELETE" and "network file system (nfs4)" in capsys.readouterr().err
    assert journal_mode(Path("/home/me/ws/deepq.sqlite"), mounts) == "WAL"
    assert Store(tmp_path / "local.sqlite")._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
