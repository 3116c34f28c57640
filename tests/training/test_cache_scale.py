"""Issue 13: 20,000 cases cached in bounded memory by two decoding processes; a build killed midway
resumes to a correct cache."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepq_widgets.data.cache import build_cache
from deepq_widgets.data.catalog import scan_dataset
from deepq_widgets.data.preprocess import network_pixels
from deepq_widgets.data.readers import read_image
from deepq_widgets.workspace import WorkspacePaths

pytestmark = pytest.mark.slow
CASES, SIZE = 20_000, 160  # a 512 MB cache from 16 px images

BUILD = f"""
import json, resource, sys
def peak_mb():  # VmHWM: ru_maxrss would start from pytest's own peak, kept across exec
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
    return int(line.split()[1]) / 1024
from deepq_widgets.data.cache import build_cache
from deepq_widgets.data.catalog import scan_dataset
from deepq_widgets.workspace import WorkspacePaths
seen = []
data = build_cache(scan_dataset(WorkspacePaths(sys.argv[1]), "many"), WorkspacePaths(sys.argv[1]).root / "cache", {SIZE},
                   processes=2, progress=lambda done, total: seen.append(total), save_every_s=0.05)
print(json.dumps({{"cases": len(data.cases), "decoded": seen[-1] if seen else 0,
                  "rss_mb": peak_mb(),
                  "children_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}}))
"""


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    ws = WorkspacePaths(tmp_path_factory.mktemp("scale") / "ws")
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        folder = ws.datasets / "many" / label
        folder.mkdir(parents=True)
        for i in range(CASES // 2):
            Image.fromarray(rng.integers(0, 255, (16, 16), np.uint8)).save(folder / f"{i:05d}.png")
    return ws


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def build(ws) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", BUILD, str(ws.root)], stdout=subprocess.PIPE, text=True)


def test_a_kill_midway_then_a_new_run_gives_a_correct_cache_in_bounded_memory(many):
    killed = build(many)
    index = None
    deadline = time.time() + 300
    while time.time() < deadline and killed.poll() is None:  # until the build has recorded part of its work
        found = list((many.root / "cache").glob("many-*/slots.json"))
        if found and json.loads(found[0].read_text())["slots"]:
            index = json.loads(found[0].read_text())
            break
        time.sleep(0.2)
    assert index is not None and killed.poll() is None, "the build ended before it could be killed"
    decoders = [int(c) for t in Path(f"/proc/{killed.pid}/task").iterdir() for c in (t / "children").read_text().split()]
    assert len(decoders) == 2
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(alive(pid) for pid in decoders):
        time.sleep(0.1)
    assert not any(alive(pid) for pid in decoders)  # no orphan decoding for ever (and holding the cache's lock)

    resumed = build(many)
    report = json.loads(resumed.communicate(timeout=600)[0])
    assert report["cases"] == CASES
    assert len(index["slots"]) <= CASES - report["decoded"] < CASES  # it resumed from what was recorded, no more
    cache_mb = CASES * SIZE * SIZE / 2**20
    assert report["rss_mb"] < cache_mb / 3 and report["children_rss_mb"] < cache_mb / 3, report  # never held whole

    data = build_cache(scan_dataset(many, "many"), many.root / "cache", SIZE)
    rng = np.random.default_rng(1)
    for i in sorted(rng.choice(CASES, 300, replace=False)):  # every row is its case's pixels
        assert np.array_equal(data.images[[i]][0], network_pixels(read_image(data.cases[i].image).pixels, 1, SIZE)), i
