"""Issue 2: cataloguing 10,000 PNG cases (< 3 s), a 50-thumbnail preview page with DICOM (< 1 s),
DICOM decode throughput (uncompressed and JPEG 2000), and demo generation time."""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image

from .common import save, timeit


def catalog_10k(root: Path) -> float:
    from deepq_widgets.data.catalog import scan_dataset
    from deepq_widgets.workspace import WorkspacePaths

    ws = WorkspacePaths(root)
    folder = ws.datasets / "big"
    if not (folder / "label.csv").exists():
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        template = folder / "template.png"
        Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(template)
        rows = []
        for i in range(10_000):
            name = f"img/{i // 1000}/{i:05d}.png"
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(template, folder / name)
            rows.append((name, f"class{i % 4}"))
        template.unlink()
        with open(folder / "label.csv", "w", newline="") as fh:
            csv.writer(fh).writerows([("path", "class"), *rows])
    return timeit(lambda: scan_dataset(ws, "big"), repeat=3)


def preview_50(ws) -> float:
    from deepq_widgets.data.catalog import scan_dataset
    from deepq_widgets.data.preview import render_preview

    info = scan_dataset(ws, "head_ct_hemorrhage")
    return timeit(lambda: render_preview(info, page=1, page_size=50, columns=10, thumb=128), repeat=5)


def dicom_throughput() -> dict[str, float]:
    from pydicom.data import get_testdata_file

    from deepq_widgets.data.readers import read_image

    out = {}
    for label, name in [
        ("uncompressed CR 2140x1760", "RG1_UNCI.dcm"),
        ("JPEG 2000 CR 2140x1760", "RG1_J2KI.dcm"),
        ("uncompressed CT 512x512", "693_UNCR.dcm"),
        ("JPEG 2000 CT 512x512", "693_J2KR.dcm"),
    ]:
        path = get_testdata_file(name)
        seconds = timeit(lambda path=path: read_image(path), repeat=5)
        out[label] = 1.0 / seconds
    return out


def demo_generation(root: Path) -> float:
    from deepq_widgets.data.demo import create_demo
    from deepq_widgets.workspace import WorkspacePaths

    start = time.perf_counter()
    create_demo(WorkspacePaths(root), force=True)
    return time.perf_counter() - start


def main() -> dict:
    from .common import demo_workspace

    ws = demo_workspace()
    return save(
        "data_layer",
        {
            "catalog_10k_png_s": catalog_10k(Path("/tmp/deepq-bench-catalog")),
            "preview_50_dicom_s": preview_50(ws),
            "dicom_decode_img_per_s": dicom_throughput(),
            "demo_generation_s": demo_generation(Path("/tmp/deepq-bench-demo")),
        },
    )
