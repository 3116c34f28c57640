"""Whether the process running a task is alive, from any host that opens the workspace.

A pid means something only on the host (and in the pid namespace) that started it: seen from another
node, or from a container, any pid may be free or someone else's. So each claim records the host's
identity beside the pid, and a running task counts as interrupted only when its lease has run out (no
heartbeat for `STALE_S`: the worker beats every 2 s, from a thread, even while data is decoded) or when
this very host started it and its process is gone.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from pathlib import Path

STALE_S = 120.0  # a running task with no heartbeat for this long is interrupted, wherever it ran


@cache
def this_host() -> str:
    """This host and pid namespace: its name, its boot (a restarted machine is another host: its pids are
    new), and the pid namespace (a container on the same machine counts pids of its own)."""
    boot = _read("/proc/sys/kernel/random/boot_id")[:8]
    try:
        namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:").strip("[]")
    except OSError:
        namespace = ""
    return "/".join(part for part in (socket.gethostname(), boot, namespace) if part)


def pid_alive(pid: int | None) -> bool:
    """Whether process `pid` of this host runs (a zombie does not)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.is_file() and stat.read_text().split(") ", 1)[-1].startswith("Z"))


def interrupted(host: str | None, pid: int | None, heartbeat: float | None, now: float) -> bool:
    """A running task's process is gone: its lease ran out, or it ran on this host and its pid is dead."""
    if heartbeat is None or now - heartbeat > STALE_S:
        return True
    return host == this_host() and not pid_alive(pid)


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""
