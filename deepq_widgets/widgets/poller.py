"""A background thread that polls the store and updates the views.

Widget updates from a thread reach the page under Voilà (measured: ~10 ms), and clicks stay
responsive because the kernel's message loop is never blocked. The poller is cheap (one
SQLite read a second), quiet when nothing changes, and ends when its app is closed, or when
nobody has used the page for a while: its updates keep the kernel busy, so an abandoned page
(Voilà does not always shut a closed page's kernel down) would otherwise live for ever instead
of being culled as idle.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
PAGE_IDLE_ENV = "DEEPQ_PAGE_IDLE_S"
PAGE_IDLE_S = 1800.0  # no click or change from the page for this long: stop updating it


def page_idle_seconds() -> float:
    return float(os.environ.get(PAGE_IDLE_ENV) or PAGE_IDLE_S)


class PageActivity:
    """When the page last sent the kernel anything (a click, a typed value, a selection).

    Under a kernel it hears every widget message from the browser; without one (tests, scripts)
    only `touch()`."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self._listen()

    def touch(self) -> None:
        self.last = time.monotonic()

    def idle_for(self) -> float:
        return time.monotonic() - self.last

    def _listen(self) -> None:
        try:
            from IPython import get_ipython
        except ImportError:
            return
        kernel = getattr(get_ipython(), "kernel", None)
        handlers = getattr(kernel, "shell_handlers", None)
        if not isinstance(handlers, dict) or "comm_msg" not in handlers:
            return
        handle = handlers["comm_msg"]

        def heard(*args, **kwargs):
            self.touch()
            return handle(*args, **kwargs)

        handlers["comm_msg"] = heard


class Poller:
    def __init__(self, tick: Callable[[], None], interval: float = 1.0, alive: Callable[[], bool] = lambda: True):
        self.tick, self.interval, self.alive = tick, interval, alive
        self._stop = threading.Event()
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._run, name="deepq-poller", daemon=True)

    def start(self) -> Poller:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if not self.alive():
                break  # the app's widgets were closed: nothing left to update
            try:
                self.tick()
            except Exception as exc:  # keep polling; the error is shown by the app and logged
                log.exception("poller tick failed")
                self.errors.append(f"{type(exc).__name__}: {exc}")
