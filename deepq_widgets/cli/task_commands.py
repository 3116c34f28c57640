"""deepq run, tasks, stop, resume, worker, serve: tasks and the processes that run them."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..intervals import format_figure
from ..store import STATES
from ..workspace import WorkspacePaths
from .common import arg, command, print_json, workspace_of

if TYPE_CHECKING:
    from ..store import Store


@command(
    "submit a task file and follow it to the end",
    arg("task_file"),
    arg("--detach", action="store_true", help="print the task id and return at once"),
)
def cmd_run(args: argparse.Namespace) -> int:
    from ..spec import TaskSpec
    from ..tasks import submit

    ws = workspace_of(args)
    spec = TaskSpec.from_json(Path(args.task_file).read_text())
    task_id = submit(ws, spec)
    print(f"task {task_id} {spec.name!r} submitted to {ws.root}", file=sys.stderr)
    if args.detach:
        print(task_id)
        return 0
    return _follow(ws, task_id)


def _follow(ws: WorkspacePaths, task_id: int) -> int:
    """A progress bar until the task ends, redrawn in place on a terminal and one line per epoch into a file or a
    pipe (a log of thousands of frames helps no one); non-zero exit on Error."""
    import time

    from ..store import ENDED, ERROR, Store
    from ..tasks import ensure_worker, reap_interrupted

    store = Store(ws.db_path)
    terminal = sys.stderr.isatty()
    width, shown, last = 30, 0.0, None
    while True:
        reap_interrupted(store)
        task = store.task(task_id)
        if task.state == "waiting":
            ensure_worker(ws)
        shown = max(shown, task.progress)  # the bar never steps back
        main_metric = next((k for k, v in task.metrics.items() if isinstance(v, float)), None)
        metric = f"  {main_metric} {format_figure(task.metrics[main_metric], task.metrics.get(f'{main_metric}_ci'))}" if main_metric else ""
        line = f"[{'#' * int(shown * width):<{width}}] {shown:4.0%}  epoch {task.epoch}/{task.epochs or '?'}  {task.state}{metric}"
        if terminal:
            print(f"\r{line}", end="", file=sys.stderr, flush=True)
        elif (task.state, task.epoch) != last:
            print(line, file=sys.stderr, flush=True)
        last = (task.state, task.epoch)
        if task.state in ENDED:
            if terminal:
                print(file=sys.stderr)
            if task.state == ERROR:
                print(f"error: {task.error}", file=sys.stderr)
            print_json(task.summary())
            return 1 if task.state == ERROR else 0
        time.sleep(1.0)


@command(
    "list tasks",
    arg("--state", action="append", choices=list(STATES)),
    arg("--json", action="store_true"),
)
def cmd_tasks(args: argparse.Namespace) -> int:
    from ..store import Store
    from ..tasks import reap_interrupted

    store = Store(workspace_of(args).db_path)
    reap_interrupted(store)
    rows = [t.summary() for t in store.tasks(tuple(args.state) if args.state else None)]
    if args.json:
        print_json([row | {"task_file": task_file(store, row["id"])} for row in rows])
    else:
        for r in rows:
            print(f"{r['id']:4} {r['name'][:30]:30} {r['state']:9} {r['progress']:5.0%}  epoch {r['epoch']}  {r['error'] or ''}")
    return 0


@command(
    "stop a task (it ends as Stopped)",
    arg("id", type=int),
)
def cmd_stop(args: argparse.Namespace) -> int:
    from ..tasks import stop

    stop(workspace_of(args), args.id)
    print(f"stop requested for task {args.id}")
    return 0


@command(
    "continue an interrupted, failed or stopped task from its last checkpoint",
    arg("id", type=int),
    arg("--detach", action="store_true"),
)
def cmd_resume(args: argparse.Namespace) -> int:
    from ..tasks import resume

    ws = workspace_of(args)
    resume(ws, args.id)
    print(f"task {args.id} queued again; it continues from its last checkpoint", file=sys.stderr)
    return 0 if args.detach else _follow(ws, args.id)


@command(
    "run the worker in the foreground",
    arg("--idle-exit", type=float, default=60.0, help="seconds of empty queue before exiting"),
    arg("--threads", type=int, default=None, help="torch threads per task (default: the cores, shared by the slots)"),
    arg("--slots", type=int, default=None, help="tasks at once (default: $DEEPQ_WORKER_SLOTS, else one per GPU, else 1)"),
    arg("--ray", metavar="ADDRESS", help="run each task on this Ray cluster ('local': start Ray here; $DEEPQ_RAY_ADDRESS)"),
)
def cmd_worker(args: argparse.Namespace) -> int:
    from ..training.worker import serve

    serve(workspace_of(args), args.idle_exit, args.threads, args.slots, args.ray)
    return 0


@command(
    "serve the dashboard with Voilà on this workspace",
    arg("--demo", action="store_true", help="make the demo datasets first (skipped when they exist)"),
    arg("--port", type=int, default=8866),
    arg("--ip", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface: then a token is required)"),
    arg("--token", help="the token a network address requires (default: $DEEPQ_TOKEN, else a new random one, printed)"),
    arg("--allow-host", action="append", help="another name browsers use for this server (repeatable)"),
    arg("--no-preheat", action="store_true", help="start each page's kernel on demand (saves one idle kernel, ~5 s per page)"),
)
def cmd_serve(args: argparse.Namespace) -> int:
    """Replace this process with Voilà (behind the Host check of `serving`), so that signals reach the server itself."""
    from .. import serving
    from ..resources import data_dir

    ws = workspace_of(args)
    if args.demo:
        from .data_commands import cmd_demo

        cmd_demo(argparse.Namespace(workspace=args.workspace, seed=0, force=False))
    notebooks = data_dir("notebooks")
    token = serving.network_token(args.ip, args.token)
    hosts = serving.served_names(args.ip, args.allow_host or [])
    argv = serving.voila_argv(notebooks / "create_task.ipynb", notebooks, args.port, args.ip, token, preheat=not args.no_preheat)
    if token:
        print(f"Dashboard on the network: open http://{hosts[0] if hosts else args.ip}:{args.port}/?token={token}", file=sys.stderr)
        print(f"Served only as: {', '.join(hosts)} (add names with --allow-host)", file=sys.stderr)
    os.environ.update(
        DEEPQ_WORKSPACE=str(ws.root),
        HF_HUB_OFFLINE=os.environ.get("HF_HUB_OFFLINE", "1"),
        JUPYTER_PATH=serving.template_path(notebooks),
        VOILA_APP_IP=serving.kernel_callback_ip(args.ip),
        **{serving.ALLOWED_HOSTS_ENV: ",".join(hosts)},
        **({serving.SERVED_TOKEN_ENV: token} if token else {}),
    )
    os.execv(sys.executable, [sys.executable, "-I", "-m", "deepq_widgets.serving", *argv])  # -I: no code from the working directory


def task_file(store: Store, task_id: int) -> dict:
    """The task file that repeats the run once it is planned (Full Manual), else the one submitted."""
    from ..contracts import ran_as

    return ran_as(store.task(task_id).spec, store.events(task_id)).model_dump(mode="json")
