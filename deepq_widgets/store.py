"""The task store: SQLite in WAL mode, shared by the worker process and the widgets.

The only module that writes SQL. Every write is one transaction, so a reader in another
process sees a task either before or after a change, never halfway. Task names are unique.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from .contracts import EVENT_ADAPTER, Event, ModelCard, Progress, StateEvent, StopRequestedEvent, event_kind
from .liveness import this_host
from .spec import TaskSpec, Tuning, stored_spec

E = TypeVar("E", bound=Event)

WAITING, RUNNING, FINISHED, STOPPED, ERROR = "waiting", "running", "finished", "stopped", "error"
STATES = (WAITING, RUNNING, FINISHED, STOPPED, ERROR)
ENDED = (FINISHED, STOPPED, ERROR)

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    ended REAL,
    heartbeat REAL,
    worker_pid INTEGER,
    worker_host TEXT,
    progress REAL NOT NULL DEFAULT 0,
    epoch INTEGER NOT NULL DEFAULT 0,
    epochs INTEGER NOT NULL DEFAULT 0,
    compute_s REAL NOT NULL DEFAULT 0,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    resume INTEGER NOT NULL DEFAULT 0,
    metrics TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    traceback TEXT,
    model_id TEXT
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id INTEGER NOT NULL REFERENCES tasks(id),
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_task ON events(task_id, id);
CREATE TABLE IF NOT EXISTS models (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    task_id INTEGER,
    created REAL NOT NULL,
    card TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS workers (
    pid INTEGER PRIMARY KEY,
    started REAL NOT NULL,
    heartbeat REAL NOT NULL
);
"""


NETWORK_FILE_SYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "lustre", "fuse.sshfs", "beegfs", "gpfs")


def journal_mode(db: Path, mounts: str | None = None) -> str:
    """WAL on a local disk. On a network file system WAL cannot work across hosts (its index is shared memory)
    and can corrupt the store: there the rollback journal, and a warning, since SQLite's locks over a network
    are only as good as the file system's (README: keep the store on the worker's local disk)."""
    kind = file_system(db.parent, mounts)
    if kind not in NETWORK_FILE_SYSTEMS:
        return "WAL"
    _warn_once(f"deepq: the store {db} is on a network file system ({kind}); keep it on the worker's local disk")
    return "DELETE"


@cache
def _warn_once(message: str) -> None:
    print(message, file=sys.stderr)


def file_system(folder: Path, mounts: str | None = None) -> str:
    """The type of the file system `folder` is on, from /proc/mounts ("" where that is not known)."""
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text()
        except OSError:
            return ""
    folder, best, kind = folder.resolve(), -1, ""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = Path(fields[1].replace("\\040", " "))
        if folder.is_relative_to(point) and len(point.parts) > best:
            best, kind = len(point.parts), fields[2]
    return kind


ADDED_COLUMNS = {"worker_host": "TEXT"}  # tasks' columns added after the first release, for older stores


class StoreError(ValueError):
    """A refused store operation (duplicate name, unknown task)."""


@dataclass
class TaskRow:
    id: int
    name: str
    spec: TaskSpec
    state: str
    created: float
    started: float | None
    ended: float | None
    heartbeat: float | None
    worker_pid: int | None
    worker_host: str | None  # the host (and pid namespace) that worker_pid belongs to (liveness.this_host)
    progress: float
    epoch: int
    epochs: int
    compute_s: float
    stop_requested: bool
    resume: bool
    metrics: dict[str, Any]
    error: str | None
    traceback: str | None
    model_id: str | None
    unreadable: str | None = None  # why this process cannot run it (its task kind is not installed here)

    def to_plain(self) -> dict[str, Any]:
        """JSON values, for a process that has no store (a Ray node, a data-parallel rank, a Tune trial)."""
        return asdict(self) | {"spec": self.spec.model_dump(mode="json")}

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> TaskRow:
        return cls(**plain | {"spec": TaskSpec.model_validate(plain["spec"])})

    def summary(self) -> dict[str, Any]:
        keys = ("id", "name", "state", "progress", "epoch", "epochs", "metrics", "created", "started", "ended", "compute_s", "model_id")
        return {k: getattr(self, k) for k in keys} | {"error": self.error}

    def elapsed(self, now: float | None = None) -> float:
        """Seconds the task has run: a stopped and resumed task's clock excludes the time it waited."""
        if self.started is None:
            return 0.0
        return (self.ended or now or time.time()) - self.started


def _row(r: sqlite3.Row) -> TaskRow:
    """A task as stored. One whose task file this process cannot run (its kind is not installed or fails to
    load) is still a row: listed as an error that says why, so it never breaks the list, the CLI or clean-up."""
    d = dict(r)
    d["spec"], d["unreadable"] = stored_spec(d["spec"])
    d["metrics"] = json.loads(d["metrics"])
    d["stop_requested"], d["resume"] = bool(d["stop_requested"]), bool(d["resume"])
    if d["unreadable"]:
        d["state"], d["error"] = ERROR, f"cannot be run here: {d['unreadable']}"
    return TaskRow(**d)


class Store:
    """Tasks, their events, registered models and live workers, in one SQLite file."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._local = threading.local()
        self._conn().executescript(SCHEMA)  # idempotent; executescript manages its own transaction
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """A store made by an earlier version gains the columns added since (nothing is ever dropped)."""
        have = {r[1] for r in self._conn().execute("PRAGMA table_info(tasks)")}
        for column, kind in ADDED_COLUMNS.items():
            if column not in have:
                self._conn().execute(f"ALTER TABLE tasks ADD COLUMN {column} {kind}")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA journal_mode={journal_mode(self.path)}")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: writers queue up instead of failing mid-way."""
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- tasks ------------------------------------------------------------------------------
    def submit(self, spec: TaskSpec) -> int:
        name = spec.name.strip()
        if not name:
            raise StoreError("a task needs a name")
        try:
            with self._tx() as db:
                cur = db.execute(
                    "INSERT INTO tasks(name, spec, state, created, epochs) VALUES (?, ?, ?, ?, ?)",
                    # Auto plans its epochs when it runs: until then the count is unknown, not the task file's default
                    (name, spec.to_json(), WAITING, time.time(), spec.hyper.epochs if spec.tuning is Tuning.manual else 0),
                )
                task_id = int(cur.lastrowid)
                self._event(db, task_id, StateEvent(state=WAITING))
        except sqlite3.IntegrityError:
            raise StoreError(f"a task named {name!r} already exists") from None
        return task_id

    def task(self, task_id: int) -> TaskRow:
        r = self._conn().execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if r is None:
            raise StoreError(f"no task with id {task_id}")
        return _row(r)

    def tasks(self, states: tuple[str, ...] | None = None) -> list[TaskRow]:
        rows = self._conn().execute("SELECT * FROM tasks ORDER BY id DESC").fetchall()
        return [t for t in map(_row, rows) if states is None or t.state in states]

    def has_waiting(self) -> bool:
        """Whether any task waits for a worker (one indexed row read: the dashboard asks every second)."""
        return self._conn().execute("SELECT 1 FROM tasks WHERE state = ? LIMIT 1", (WAITING,)).fetchone() is not None

    def task_names(self) -> set[str]:
        return {r[0] for r in self._conn().execute("SELECT name FROM tasks")}

    def claim_next(self, pid: int, host: str | None = None) -> TaskRow | None:
        """Atomically move the oldest waiting task to running for worker `pid` of `host` (this one by default)."""
        with self._tx() as db:
            r = db.execute("SELECT id FROM tasks WHERE state = ? ORDER BY id LIMIT 1", (WAITING,)).fetchone()
            if r is None:
                return None
            now = time.time()
            db.execute(
                # a resumed task's clock goes on from the time it had run, not from its first start
                "UPDATE tasks SET state = ?, started = ? - COALESCE(ended - started, 0), heartbeat = ?, worker_pid = ?, worker_host = ?,"
                " ended = NULL WHERE id = ?",
                (RUNNING, now, now, pid, host or this_host(), r[0]),
            )
            self._event(db, r[0], StateEvent(state=RUNNING, pid=pid))
        return self.task(r[0])

    def set_state(self, task_id: int, state: str, error: str | None = None, traceback: str | None = None) -> None:
        if state not in STATES:  # a check that `python -O` keeps
            raise ValueError(f"unknown task state {state!r}")
        with self._tx() as db:
            ended = time.time() if state in ENDED else None
            db.execute(
                "UPDATE tasks SET state = ?, ended = ?, error = ?, traceback = ?, stop_requested = 0 WHERE id = ?",
                (state, ended, error, traceback, task_id),
            )
            self._event(db, task_id, StateEvent(state=state, error=error))

    def update_progress(self, task_id: int, progress: Progress) -> None:
        """A heartbeat, and the fields of `progress` that are given."""
        values = {k: json.dumps(v) if k == "metrics" else v for k, v in progress.changes().items()} | {"heartbeat": time.time()}
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._tx() as db:
            db.execute(f"UPDATE tasks SET {sets} WHERE id = ?", (*values.values(), task_id))

    def fail_if_running(self, task: TaskRow, error: str) -> bool:
        """Error `task` only if it is still running under the process (pid and host) it was read with: a task
        that finished, or that another process claimed meanwhile, is never overwritten."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE tasks SET state = ?, ended = ?, error = ? WHERE id = ? AND state = ? AND worker_pid IS ? AND worker_host IS ?",
                (ERROR, time.time(), error, task.id, RUNNING, task.worker_pid, task.worker_host),
            )
            if cur.rowcount:
                self._event(db, task.id, StateEvent(state=ERROR, error=error))
        return bool(cur.rowcount)

    def hand_over(self, task_id: int, pid: int) -> None:
        """The running task now lives in process `pid` (a worker's slot): its liveness is that process's."""
        with self._tx() as db:
            db.execute("UPDATE tasks SET worker_pid = ?, heartbeat = ? WHERE id = ? AND state = ?", (pid, time.time(), task_id, RUNNING))

    def touch(self, task_id: int) -> None:
        """Heartbeat only: the worker is alive and busy with this task."""
        with self._tx() as db:
            db.execute("UPDATE tasks SET heartbeat = ? WHERE id = ?", (time.time(), task_id))

    def request_stop(self, task_id: int) -> None:
        task = self.task(task_id)
        if task.state == WAITING:
            self.set_state(task_id, STOPPED, error="stopped before it started")
            return
        with self._tx() as db:
            db.execute("UPDATE tasks SET stop_requested = 1 WHERE id = ?", (task_id,))
            self._event(db, task_id, StopRequestedEvent())

    def stop_requested(self, task_id: int) -> bool:
        r = self._conn().execute("SELECT stop_requested FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return bool(r and r[0])

    def requeue(self, task_id: int) -> None:
        """Put an interrupted task back in the queue, to resume from its last checkpoint."""
        with self._tx() as db:
            db.execute(
                "UPDATE tasks SET state = ?, resume = 1, error = NULL, traceback = NULL, stop_requested = 0 WHERE id = ?",
                (WAITING, task_id),
            )
            self._event(db, task_id, StateEvent(state=WAITING, resume=True))

    # -- events -----------------------------------------------------------------------------
    @staticmethod
    def _event(db: sqlite3.Connection, task_id: int, event: Event) -> None:
        data = event.model_dump_json(by_alias=True, exclude={"id", "time", "kind"})
        db.execute("INSERT INTO events(task_id, time, kind, data) VALUES (?, ?, ?, ?)", (task_id, time.time(), event.kind, data))

    def add_event(self, task_id: int, event: Event) -> None:
        with self._tx() as db:
            self._event(db, task_id, event)

    def events(self, task_id: int, kind: type[E] | None = None, after: int = 0) -> list[E]:
        """The task's events in order, as their types; only those of `kind` when given."""
        sql = "SELECT id, time, kind, data FROM events WHERE task_id = ? AND id > ?"
        args: tuple = (task_id, after)
        if kind is not None:
            sql, args = sql + " AND kind = ?", (*args, event_kind(kind))
        rows = self._conn().execute(sql + " ORDER BY id", args).fetchall()
        return [EVENT_ADAPTER.validate_python({**json.loads(r[3]), "id": r[0], "time": r[1], "kind": r[2]}) for r in rows]

    # -- models -----------------------------------------------------------------------------
    def add_model(self, card: ModelCard) -> None:
        """Register `card`, or replace the card its own task registered before (a resumed run); never another task's."""
        with self._tx() as db:
            owner = db.execute("SELECT task_id FROM models WHERE id = ?", (card.id,)).fetchone()
            if owner is not None and owner[0] != card.source_task:
                raise ValueError(f"model {card.id!r} belongs to task {owner[0]}: task {card.source_task} cannot replace it")
            db.execute(
                "INSERT OR REPLACE INTO models(id, name, task_id, created, card) VALUES (?, ?, ?, ?, ?)",
                (card.id, card.name, card.source_task, card.created or time.time(), card.to_json()),
            )

    def models(self) -> list[ModelCard]:
        """Registered models, newest first."""
        rows = self._conn().execute("SELECT card FROM models ORDER BY created DESC").fetchall()
        return [ModelCard.model_validate_json(r[0]) for r in rows]

    # -- workers ----------------------------------------------------------------------------
    def worker_beat(self, pid: int) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO workers(pid, started, heartbeat) VALUES (?, ?, ?) ON CONFLICT(pid) DO UPDATE SET heartbeat = ?",
                (pid, now, now, now),
            )

    def worker_gone(self, pid: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM workers WHERE pid = ?", (pid,))

    def workers(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._conn().execute("SELECT pid, started, heartbeat FROM workers")]
