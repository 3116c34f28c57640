"""`deepq` commands run from the dashboard in child processes: the work that needs torch (export, evaluation,
prediction, speed measurement, label review) never runs in the page's kernel, and a page stays responsive."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable

from ..workspace import WorkspacePaths


def deepq(
    workspace: WorkspacePaths,
    *args: str,
    progress: Callable[[str], None] | None = None,
    timeout: float = 900,
    env: dict[str, str] | None = None,
) -> str:
    """Run a `deepq` command in a child process; its output, or its error message raised (subprocess.TimeoutExpired
    past `timeout` seconds, the child killed). `progress` hears each line (or carriage-return update) it writes to stderr;
    `env` adds to its environment (a secret, never on its command line)."""
    command = [sys.executable, "-I", "-m", "deepq_widgets.cli", *args, "--workspace", str(workspace.root)]
    environment = {**os.environ, **(env or {})}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment) as child:
        out: list[str] = []
        reader = threading.Thread(target=lambda: out.append(child.stdout.read()), daemon=True)
        reader.start()
        killed: list[bool] = []
        overdue = threading.Timer(timeout, lambda: (killed.append(True), child.kill()))  # the lines below wait on the child
        overdue.start()
        said = []
        for line in map(str.strip, child.stderr):
            if line:
                said.append(line)
                if progress is not None:
                    progress(line)
        child.wait()
        overdue.cancel()
        reader.join()
    if killed:
        raise subprocess.TimeoutExpired(command, timeout)
    if child.returncode:
        raise RuntimeError((said or [f"deepq {args[0]} failed ({child.returncode})"])[-1])
    return out[0] if out else ""
