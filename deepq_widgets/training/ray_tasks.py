"""Tasks on a Ray cluster: `deepq worker --ray ADDRESS` (or $DEEPQ_RAY_ADDRESS; `local` starts Ray here).

The worker stays on the machine that holds the SQLite store and is its only writer. Each task it
claims runs as a Ray task on any node that has the resources it asks for (its `devices` GPUs, or
a number of CPUs, which is also its torch thread count), and reports through a `Mailbox` actor: events,
progress and the registered model go in, the stop flag comes out. The worker drains every mailbox
into the store, forwards stop requests, and heartbeats each task while its Ray task runs. A Ray
task that dies (its process killed, its node lost) ends its task as Error, resumable from the last
checkpoint, as a killed worker does. Nothing here is imported unless the worker is given Ray.

The workspace must be on storage every node mounts at the same path (NFS or a cluster file
system): the nodes read the datasets and write the cache, checkpoints and models there. The SQLite
store is opened by the worker alone, never over the network file system.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import ray

from ..contracts import EVENT_ADAPTER, Event, ModelCard, PlanEvent, Progress, StatusEvent
from ..spec import SearchMethod
from ..store import ERROR, FINISHED, Store, TaskRow
from ..tasks import reap_interrupted
from ..workspace import WorkspacePaths
from .heartbeat import watch
from .mail import EventMail, ModelMail, ProgressMail, deliver
from .planning import SEARCHED
from .sink import E, TaskSink

DRAIN_S = 0.5  # how often the worker empties the mailboxes into the store
MAX_MAIL_CHARS = 64_000_000  # one message at most: far above a real one (a data-problems event lists each bad file)
SEARCHED_STATE = "searched"  # a task's search ended; its training is dispatched next (not a store state)


@ray.remote(num_cpus=0)
class Mailbox:
    """One task's messages between its Ray task and the worker, kept in order (one caller each way). They travel
    as JSON of the `Mail` types (Ray pickles what it carries: plain text is all it carries here), and the worker
    checks each against the task before it reaches the store (mail.py)."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.stop = False

    def put(self, mail: str) -> None:
        if not isinstance(mail, str) or len(mail) > MAX_MAIL_CHARS:
            raise ValueError(f"a mailbox takes JSON text of at most {MAX_MAIL_CHARS:,} characters")
        self.messages.append(mail)

    def drain(self) -> list[str]:
        messages, self.messages = self.messages, []
        return messages

    def request_stop(self) -> None:
        self.stop = True

    def stop_requested(self) -> bool:
        return self.stop


class MailboxSink(TaskSink):
    """A run's sink on a Ray node: what it reports goes to the mailbox; the events it reads back are those
    the task had when it was dispatched plus those it sent since."""

    def __init__(self, mailbox: Any, task_id: int, earlier: list[str]):
        self.mailbox, self.task_id = mailbox, task_id
        self.sent: list[Event] = [EVENT_ADAPTER.validate_json(e) for e in earlier]

    def send(self, mail: EventMail | ProgressMail | ModelMail) -> None:
        self.mailbox.put.remote(mail.to_json())

    def event(self, event: Event) -> None:
        self.sent.append(event)
        self.send(EventMail(event=event))

    def progress(self, progress: Progress) -> None:
        self.send(ProgressMail(progress=progress))

    def stop_requested(self) -> bool:
        return bool(ray.get(self.mailbox.stop_requested.remote()))

    def events(self, kind: type[E]) -> list[E]:
        return [e for e in self.sent if isinstance(e, kind)]

    def add_model(self, card: ModelCard) -> None:
        self.send(ModelMail(card=card))

    def flush(self) -> None:
        """Until the mailbox has every message sent (calls from one caller run in order): then the worker,
        told the task ended, finds them all."""
        ray.get(self.mailbox.stop_requested.remote())


@ray.remote(max_retries=0)  # a task whose process died is the user's to resume, from its checkpoint
def run_on_node(root: str, task: dict[str, Any], mailbox: Any, earlier: list[str], threads: int, search: bool) -> dict[str, Any]:
    """One task (or only its search), on whichever node Ray chose; returns its Outcome as plain values."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["DEEPQ_THREADS"] = str(threads)  # the cache's decoders too: not every core of the node, N times over
    import platform

    import torch

    torch.set_num_threads(threads)
    from .runner import run_reported, search_stages

    row = TaskRow.from_plain(task)
    sink = MailboxSink(mailbox, row.id, earlier)
    what = "Searching" if search else "Running"
    sink.status(f"{what} on Ray node {platform.node()} (process {os.getpid()}, {threads} threads)")
    try:
        return asdict(run_reported(WorkspacePaths(root), sink, row, search_stages if search else None))
    finally:
        sink.flush()


@dataclass
class Dispatched:
    task: TaskRow
    mailbox: Any
    result: Any  # the Ray object ref of run_on_node
    search: bool  # only its search: the training is dispatched when it is done


class RayTasks:
    """The worker's side: dispatch claimed tasks, carry their messages into the store, record how they end."""

    def __init__(self, workspace: WorkspacePaths, store: Store, threads: int):
        self.workspace, self.store, self.threads = workspace, store, threads
        self.running: dict[int, Dispatched] = {}
        resources = ray.cluster_resources()
        self.gpus = int(resources.get("GPU", 0))
        self.capacity = self.gpus or max(1, int(resources.get("CPU", 1)) // threads)

    def dispatch(self, task: TaskRow) -> None:
        """The task's search first when it has one still to run (its coordinator holds no resources: the trials
        do), else the task; each with a mailbox of its own."""
        mailbox = Mailbox.remote()
        earlier = self.store.events(task.id)
        search = self._search_pending(task, earlier)
        row = task.to_plain()
        gpus = min(task.spec.devices, self.gpus)  # a task on several GPUs gets them on one node (distributed.py)
        options = {"num_cpus": 0} if search else {"num_gpus": gpus, "num_cpus": 1} if gpus else {"num_cpus": self.threads}
        sent = [e.model_dump_json(by_alias=True) for e in earlier]
        result = run_on_node.options(**options).remote(str(self.workspace.root), row, mailbox, sent, self.threads, search)
        self.running[task.id] = Dispatched(task, mailbox, result, search)

    def _search_pending(self, task: TaskRow, earlier: list[Event]) -> bool:
        planned = any(isinstance(e, PlanEvent) for e in earlier)  # a resumed run keeps the plan it trained with
        return (
            task.spec.search.method is not SearchMethod.none and not planned and not (self.workspace.task_dir(task.id) / SEARCHED).is_file()
        )

    def carry(self) -> list[tuple[int, str]]:
        """Messages into the store, stop requests out to the tasks; returns (task, state) of those that ended.
        What goes wrong with one task's mailbox (its actor lost with its node) ends that task alone."""
        ended = []
        finished, _ = ray.wait([d.result for d in self.running.values()], num_returns=len(self.running), timeout=DRAIN_S)
        for task_id, d in list(self.running.items()):
            try:
                deliver(self.store, task_id, ray.get(d.mailbox.drain.remote()))
                if self.store.stop_requested(task_id):
                    d.mailbox.request_stop.remote()
            except Exception as exc:  # a lost actor, or a store refusal: this task's end, not the worker's
                ended.append((task_id, self._lost(task_id, d, exc)))
                continue
            if d.result in finished:
                ended.append((task_id, self._end(task_id, d)))
        return ended

    def _end(self, task_id: int, d: Dispatched) -> str:
        del self.running[task_id]
        try:
            outcome = ray.get(d.result)
        except Exception as exc:  # the Ray task's process or node died: as when a worker is killed
            with contextlib.suppress(Exception):  # what its mailbox still holds, if the mailbox lives
                deliver(self.store, task_id, ray.get(d.mailbox.drain.remote(), timeout=30))
            _close(d.mailbox)
            return self._failed(task_id, "its Ray task ended unexpectedly", exc)
        _close(d.mailbox)  # drained in this round, after the task had sent its last message (`MailboxSink.flush`)
        if d.search and outcome["state"] == FINISHED:  # the search is done: now the training, with its resources
            self.dispatch(d.task)
            return SEARCHED_STATE
        self.store.set_state(task_id, outcome["state"], error=outcome["error"], traceback=outcome["traceback"])
        return outcome["state"]

    def _lost(self, task_id: int, d: Dispatched, exc: Exception) -> str:
        """The task's mailbox failed (its actor's process or node died): the task is cancelled and ends as Error."""
        del self.running[task_id]
        with contextlib.suppress(Exception):
            ray.cancel(d.result, force=True)
        _close(d.mailbox)
        return self._failed(task_id, "its mailbox on the Ray cluster was lost", exc)

    def _failed(self, task_id: int, what: str, exc: Exception) -> str:
        row = self.store.task(task_id)
        error = f"{what} during epoch {row.epoch + 1} ({type(exc).__name__}); `deepq resume {task_id}` continues from the last checkpoint"
        said = str(exc).strip().splitlines() or [type(exc).__name__]
        self.store.add_event(task_id, StatusEvent(message=f"Ray: {said[0][:300]}"))
        self.store.set_state(task_id, ERROR, error=error)
        return ERROR


def _close(mailbox: Any) -> None:
    """End a task's mailbox actor now, not whenever Ray collects its last handle (a task's Ray worker may hold one)."""
    with contextlib.suppress(Exception):
        ray.kill(mailbox)


def serve_ray(workspace: WorkspacePaths, address: str, threads: int, idle_exit: float) -> int:
    """Run queued tasks on Ray until the queue has been empty for `idle_exit` seconds; returns tasks run."""
    with ray_started(address):
        return _serve(workspace, threads, idle_exit)


@contextlib.contextmanager
def ray_started(address: str) -> Iterator[None]:
    """Ray started here (`local`) or joined, from an empty folder of its own: Ray puts the driver's working
    directory first on every Ray worker's `sys.path` (tasks, actors, Tune trials, on every node), and a local
    Ray's processes keep it as theirs. The worker runs in the workspace, where a planted `torch.py` would
    then be imported by every Ray worker; an empty private folder holds nothing to import. Token
    authentication is on unless $RAY_AUTH_MODE says otherwise (`worker.serve_on_ray` sets it before Ray is
    imported, which is when Ray reads it)."""
    home = tempfile.mkdtemp(prefix="deepq-ray-")
    here = os.getcwd()
    os.chdir(home)
    reaper = None
    try:
        if address == "local":  # its processes end with this one, even when it is killed (ray_reaper.py)
            reaper = subprocess.Popen(
                [sys.executable, "-I", "-m", "deepq_widgets.training.ray_reaper", "--watch", str(os.getpid())], start_new_session=True
            )
            ray.init(num_cpus=len(os.sched_getaffinity(0)), include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    finally:
        os.chdir(here)
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(home, ignore_errors=True)
        if reaper is not None:
            reaper.kill()
            reaper.wait()


def _serve(workspace: WorkspacePaths, threads: int, idle_exit: float) -> int:
    store, pid = Store(workspace.db_path), os.getpid()
    reap_interrupted(store)
    tasks = RayTasks(workspace, store, threads)
    done = watch(workspace, store, pid, lambda: list(tasks.running))
    print(f"Ray: {tasks.capacity} tasks at once ({tasks.gpus} GPUs, {threads} threads per CPU task)", flush=True)
    ran, idle_since = 0, time.monotonic()
    try:
        while not done.is_set() or tasks.running:  # after SIGTERM, until the running tasks have stopped
            while not done.is_set() and len(tasks.running) < tasks.capacity and (task := store.claim_next(pid)) is not None:
                print(f"[{time.strftime('%H:%M:%S')}] task {task.id} {task.name!r}: dispatched to Ray", flush=True)
                tasks.dispatch(task)
            if tasks.running:
                for task_id, state in tasks.carry():
                    print(f"[{time.strftime('%H:%M:%S')}] task {task_id}: {state}", flush=True)
                    ran += state != SEARCHED_STATE
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > idle_exit:
                break
            else:
                time.sleep(DRAIN_S)
    finally:
        done.set()
        store.worker_gone(pid)
    return ran
