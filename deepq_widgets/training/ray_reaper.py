"""Ends a local Ray's processes when the worker that started it is killed.

    python -I -m deepq_widgets.training.ray_reaper --watch PID

`ray.init()` on this machine (`deepq worker --ray local`) starts Ray's GCS, raylet, dashboard and
runtime-env agents and its worker processes under the worker. A worker that ends normally shuts them
down; one killed with SIGKILL runs no code, and some of them (the agents) ignore SIGTERM, so they would
live on, holding memory and open ports. This small process, started before Ray, notes the worker's
descendants every second and, once the worker is gone, kills those still running (with whatever they
started since). It never touches a process that was not the worker's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import time
from pathlib import Path

EVERY_S = 1.0


def processes() -> dict[int, tuple[int, str]]:
    """Every running process of this host: pid -> (parent pid, start time in clock ticks), from /proc. A zombie (a
    process that ended, not yet waited for) is not running: its children are already another's."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended meanwhile
        if fields[0] != "Z":
            found[int(entry.name)] = (int(fields[1]), fields[19])
    return found


def descendants(root: int, table: dict[int, tuple[int, str]]) -> dict[int, str]:
    """The processes under `root`: pid -> its start time (so that a pid reused later is never taken for it)."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    out, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid in out or pid == os.getpid():
            continue
        out[pid] = table[pid][1]
        todo += children.get(pid, [])
    return out


def watch(worker: int) -> list[int]:
    """Until `worker` ends; then kill what it had started and what those started since. Returns the pids killed."""
    known: dict[int, str] = {}
    while True:
        table = processes()
        if worker not in table:
            break
        known = descendants(worker, table)
        time.sleep(EVERY_S)
    table = processes()
    doomed = {pid: start for pid, start in known.items() if table.get(pid, (0, None))[1] == start}
    for pid in list(doomed):
        doomed |= descendants(pid, table)
    for pid in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return sorted(doomed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deepq ray reaper", description=__doc__.splitlines()[0])
    parser.add_argument("--watch", type=int, required=True)
    args = parser.parse_args(argv)
    killed = watch(args.watch)
    if killed:
        print(f"ray reaper: worker {args.watch} is gone; ended {len(killed)} of its Ray processes", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
