"""Issue 13: the catalogue of 100,000 cases (a label CSV, and class folders), and the cache build of
20,000 DICOM slices with one and with two decoding processes (images/s, their ratio, peak RSS),
side by side in one run: `.venv/bin/python -m benchmarks scale`."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from .common import save

ROOT = Path("/tmp/deepq-bench-scale")
CASES, SLICES, SIZE = 100_000, 20_000, 128


def make_png_sets(ws) -> None:
    """100,000 small PNGs named by a headerless label CSV, and the same files again as class folders (hard links)."""
    csv_set, folders = ws.datasets / "csv_100k", ws.datasets / "folders_100k"
    if (csv_set / "label.csv").is_file() and folders.is_dir():
        return
    shutil.rmtree(csv_set, ignore_errors=True)
    shutil.rmtree(folders, ignore_errors=True)
    template = ROOT / "template.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32), np.uint8)).save(template)
    rows = []
    for i in range(CASES):
        name = f"img/{i // 1000:03d}/{i:06d}.png"
        (csv_set / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(template, csv_set / name)
        label = f"class{i % 4}"
        rows.append((name, label))
        (folders / label).mkdir(parents=True, exist_ok=True)
        (folders / label / f"{i:06d}.png").hardlink_to(csv_set / name)
    with open(csv_set / "label.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)


def make_dicom_slices(ws) -> None:
    """20,000 uncompressed 256×256 CT slices in two class folders."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder = ws.datasets / "ct_20k"
    if folder.is_dir():
        return
    rng = np.random.default_rng(0)
    pixels = (rng.normal(40, 30, (256, 256)) + 1024).clip(0, 4095).astype(np.uint16)
    for i in range(SLICES):
        label = ("bleed", "normal")[i % 2]
        (folder / label).mkdir(parents=True, exist_ok=True)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta, ds.SOPClassUID, ds.SOPInstanceUID = meta, CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.StudyInstanceUID, ds.PatientID = "CT", f"1.2.3.{i // 40}", f"P{i // 40}"
        ds.Rows = ds.Columns = 256
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.RescaleIntercept, ds.RescaleSlope, ds.WindowCenter, ds.WindowWidth = -1024, 1, 40, 80
        ds.PixelData = np.roll(pixels, i, axis=0).tobytes()
        ds.save_as(folder / label / f"{i:05d}.dcm", enforce_file_format=True)


BUILD = """
import json, resource, sys, time
def peak_mb():  # VmHWM: ru_maxrss would start from the parent's peak, kept across exec
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
    return int(line.split()[1]) / 1024
from deepq_widgets.data.cache import build_cache
from deepq_widgets.data.catalog import scan_dataset
from deepq_widgets.workspace import WorkspacePaths
ws = WorkspacePaths(sys.argv[1])
info = scan_dataset(ws, "ct_20k")
start = time.perf_counter()
data = build_cache(info, ws.root / sys.argv[3], int(sys.argv[4]), processes=int(sys.argv[2]))
took = time.perf_counter() - start
print(json.dumps({"seconds": took, "images_per_s": len(data.cases) / took,
                  "rss_mb": peak_mb(),
                  "children_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def cache_build(ws, processes: int, where: str) -> dict:
    shutil.rmtree(ws.root / where, ignore_errors=True)
    out = subprocess.run([sys.executable, "-c", BUILD, str(ws.root), str(processes), where, str(SIZE)], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout)


def main() -> dict:
    from deepq_widgets.data.catalog import scan_dataset
    from deepq_widgets.workspace import WorkspacePaths

    ws = WorkspacePaths(ROOT)
    make_png_sets(ws)
    make_dicom_slices(ws)
    catalogue = {}
    for name in ("csv_100k", "folders_100k"):
        start = time.perf_counter()
        info = scan_dataset(ws, name)
        catalogue[name] = {"seconds": time.perf_counter() - start, "cases": len(info.usable)}
    one, two = cache_build(ws, 1, "cache-1"), cache_build(ws, 2, "cache-2")
    return save(
        "scale",
        {
            "catalogue_100k": catalogue,
            "cache_20k_dicom": {"one_process": one, "two_processes": two, "speed_up": two["images_per_s"] / one["images_per_s"]},
            "cache_mb": SLICES * SIZE * SIZE / 2**20,
        },
    )
