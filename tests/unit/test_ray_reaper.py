"""A killed worker's Ray processes end with it: the reaper kills what the worker had started (processes that
ignore SIGTERM too, as Ray's agents do), and nothing that was not the worker's."""

import subprocess
import sys
import time

from deepq_widgets.liveness import pid_alive

WORKER = """
import subprocess, sys, time
stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
child = subprocess.Popen([sys.executable, "-c", stubborn])
print(child.pid, flush=True)
time.sleep(600)
"""


def test_the_reaper_ends_a_killed_workers_processes_and_no_others():
    worker = subprocess.Popen([sys.executable, "-c", WORKER], stdout=subprocess.PIPE, text=True)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        child = int(worker.stdout.readline())
        reaper = subprocess.Popen(
            [sys.executable, "-I", "-m", "deepq_widgets.training.ray_reaper", "--watch", str(worker.pid)], stdout=subprocess.PIPE, text=True
        )
        time.sleep(2.5)  # it has noted the worker's processes
        worker.kill()  # and not waited for: a zombie, its children already given to init, as a killed worker is
        said, _ = reaper.communicate(timeout=30)
        worker.wait()
        assert "worker" in said and "ended 1 of its Ray processes" in said
        deadline = time.time() + 10
        while pid_alive(child) and time.time() < deadline:
            time.sleep(0.1)
        assert not pid_alive(child) and stranger.poll() is None
    finally:
        for process in (worker, stranger):
            process.kill()
