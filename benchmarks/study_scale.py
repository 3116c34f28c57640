"""Studies at scale (issue 23): reading a long series per slice against single files, and the peak memory of a
study-level fit as the dataset grows: `.venv/bin/python -m benchmarks study_scale`.

- `read`: one uncompressed series of 300 slices of 256 px (a study case), and the same 300 files as single-slice
  cases in class folders; the catalogue scan plus the cache build (one decoding process), seconds per slice.
- `memory`: datasets of N studies x 300 slices (64 px, every study its own series folder), a Full Manual
  study fit of one epoch (batch 4 studies x 16 slices, attention), in a forked process per N: its peak RSS
  (ru_maxrss; the cache's decoding processes apart), its peak anonymous and file-backed pages apart (sampled from
  /proc: the memory-mapped cache's pages are file pages, which the kernel reclaims freely), and the cache size on
  disk. Bounded memory means the anonymous peak grows with N only by the catalogue's few bytes a slice.
"""

from __future__ import annotations

import multiprocessing
import resource
import shutil
import threading
import time
from pathlib import Path

import numpy as np

from .common import save, threads
from .learning import run_auto, spec_for

ROOT = Path("/tmp/deepq-bench-study-scale")
DEPTH = 300
STUDIES = (25, 50, 100)


def write_series(folder: Path, patient: str, size: int, rng: np.random.Generator) -> list[Path]:
    from deepq_widgets.data.demo.dicom_writer import Series, write_slice

    series = Series(patient, "CT", "CHEST", "CT CHEST", [(40, 400)], ["MEDIASTINUM"])
    folder.mkdir(parents=True, exist_ok=True)
    base = rng.normal(40, 30, (size, size)).astype(np.float32)
    paths = []
    for k in range(DEPTH):
        path = folder / f"IM{k:04d}.dcm"
        write_slice(path, base + k, series, instance=k + 1, position=k * 1.0, thickness=1.0)
        paths.append(path)
    return paths


def read_speed(ws) -> dict:
    """Seconds per slice to scan and cache one 300-slice study against 300 single-slice cases."""
    from deepq_widgets.data.cache import build_cache
    from deepq_widgets.data.catalog import scan_dataset

    rng = np.random.default_rng(0)
    study, single = ws.datasets / "one_series", ws.datasets / "single_slices"
    for folder in (study, single):
        shutil.rmtree(folder, ignore_errors=True)
    paths = write_series(study / "S0", "S0", 256, rng)
    (study / "label.csv").write_text("path,class\nS0,a\n")
    for i, p in enumerate(paths):
        target = single / ("a" if i % 2 else "b") / p.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, target)
    out = {}
    for name in ("one_series", "single_slices"):
        shutil.rmtree(ws.root / "cache", ignore_errors=True)
        start = time.perf_counter()
        info = scan_dataset(ws, name)
        scanned = time.perf_counter()
        build_cache(info, ws.root / "cache", 128, ["mediastinum"], processes=1)
        done = time.perf_counter()
        out[name] = {"scan_ms_per_slice": 1000 * (scanned - start) / DEPTH, "cache_ms_per_slice": 1000 * (done - scanned) / DEPTH}
    out["series_over_single"] = sum(out["one_series"].values()) / sum(out["single_slices"].values())
    return out


def make_studies(ws, count: int) -> str:
    name = f"studies_{count}"
    folder = ws.datasets / name
    if (folder / "label.csv").is_file():
        return name
    rng = np.random.default_rng(count)
    rows = []
    for i in range(count):
        write_series(folder / f"P{i:04d}", f"P{i:04d}", 64, rng)
        rows.append(f"P{i:04d},{'a' if i % 2 else 'b'}")
    (folder / "label.csv").write_text("path,class\n" + "\n".join(rows) + "\n")
    return name


def fit(ws_root: str, dataset: str, queue) -> None:
    from deepq_widgets.workspace import WorkspacePaths

    threads(2)
    ws = WorkspacePaths(Path(ws_root))
    args = ["--flow", "general", "--task", "study_label", "--dataset", dataset, "--model", "tf_efficientnet_lite0.in1k"]
    args += ["--tuning", "manual", "--image-size", "64", "--epochs", "1", "--batch-size", "4", "--slices", "16"]
    spec = spec_for(ws, args, f"scale-{dataset}-{time.time():.0f}")
    peaks, done = {"RssAnon": 0, "RssFile": 0}, threading.Event()

    def sample() -> None:  # the peak of each kind of page: the memory-mapped cache's are file pages, given back freely
        while not done.wait(0.2):
            for line in Path("/proc/self/status").read_text().splitlines():
                name, _, value = line.partition(":")
                if name in peaks:
                    peaks[name] = max(peaks[name], int(value.split()[0]))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    row, wall, _ = run_auto(ws, spec)
    done.set()
    sampler.join()
    assert row.state == "finished", row.error
    cache = sum(f.stat().st_size for f in (ws.root / "cache").rglob("*.u8"))
    peak = {
        f"{who}_peak_mib": resource.getrusage(usage).ru_maxrss / 1024
        for who, usage in (("fit", resource.RUSAGE_SELF), ("decoders", resource.RUSAGE_CHILDREN))
    }
    pages = {"fit_anon_peak_mib": peaks["RssAnon"] / 1024, "fit_file_peak_mib": peaks["RssFile"] / 1024}
    queue.put({"wall_s": wall, **peak, **pages, "cache_mib": cache / 2**20})


def result_of(process, queue) -> dict:
    """The fit's figures, or an error as soon as its process ends without them (never a wait for ever)."""
    import queue as queues

    while True:
        try:
            return queue.get(timeout=5)
        except queues.Empty:
            if not process.is_alive():
                raise RuntimeError(f"the fit's process ended (exit code {process.exitcode}) without its figures") from None


def memory(ws, studies: tuple[int, ...], rebuild: bool = True) -> dict:
    """Each N's fit in its own process; `rebuild` starts each from an empty cache (else the cache of a previous run
    is reused, and its size is that of every dataset in it)."""
    out = {}
    for count in studies:
        dataset = make_studies(ws, count)
        if rebuild:
            shutil.rmtree(ws.root / "cache", ignore_errors=True)
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        process = context.Process(target=fit, args=(str(ws.root), dataset, queue))
        process.start()
        out[f"{count} studies x {DEPTH} slices"] = result_of(process, queue)
        process.join()
        print(out, flush=True)
    return out


def main(studies: tuple[int, ...] = STUDIES) -> dict:
    from deepq_widgets.workspace import WorkspacePaths

    ws = WorkspacePaths(ROOT)
    ws.datasets.mkdir(parents=True, exist_ok=True)
    return save("study_scale", {"read": read_speed(ws), "memory": memory(ws, studies)})


if __name__ == "__main__":
    main()
