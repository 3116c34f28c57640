"""Child processes that end when the process that started them dies (no torch: the cache's decoders use it)."""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


def die_with(parent: int) -> None:
    """Run in the child: SIGKILL when `parent` dies. An orphan would wait for work (or its peers) for ever,
    and hold what it holds: the cache's lock, a GPU."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)
