"""Issue 25: import throughput from a real PACS over loopback, against dicomweb-client alone, and what
de-identification costs.

A real Orthanc with DICOMweb (started as the tests start it, tests/pacs_server.py) holds two kinds of study: the
demo's 40 embolism CT series (24 slices of 160 x 160 each: many small instances) and 6 CT series of 80 slices at
512 x 512 (the size of a clinical CT slice, 0.5 MB each). Per kind, side by side and interleaved, 3 rounds of:
- `dicomweb-client` alone: list each study's series and stream its largest as stored (what the import asks for),
  the bytes counted, nothing decoded or written;
- the import without de-identification (`import_studies(..., deidentify=False)`): the same requests, plus a decode
  check of the first instance, files written and fsynced, the rename into the dataset, the mapping;
- the import with de-identification (the default).
`.venv/bin/python -m benchmarks pacs_import`.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import demo_workspace, save

ROUNDS = 3
LARGE_STUDIES, LARGE_SLICES, LARGE_SIDE = 6, 80, 512


def large_ct_series(folder: Path) -> list[Path]:
    """CT series at a clinical slice size, from pydicom's CT header (another writer's), with smooth pixels."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    rng = np.random.default_rng(0)
    paths = []
    yy, xx = np.mgrid[:LARGE_SIDE, :LARGE_SIDE]
    for s in range(LARGE_STUDIES):
        study, series = generate_uid(), generate_uid()
        for k in range(LARGE_SLICES):
            ds = template.copy()
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, series, generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.PatientID, ds.PatientName, ds.AccessionNumber = f"BIG-{s}", f"BIG^{s}", f"BIG{s}"
            ds.StudyDescription, ds.InstanceNumber = "LARGE CT", k + 1
            ds.ImagePositionPatient = [0.0, 0.0, float(k)]
            ds.Rows = ds.Columns = LARGE_SIDE
            body = 1000 * np.exp(-((yy - 256) ** 2 + (xx - 256) ** 2) / (2 * 150.0**2)) + rng.normal(0, 20, (LARGE_SIDE, LARGE_SIDE))
            ds.PixelData = body.astype(np.int16).tobytes()
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
            path = folder / f"big-{s}-{k:03d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


def fetch_alone(server, studies) -> tuple[int, int]:
    """What dicomweb-client gives for the import's requests, bytes counted: (instances, bytes)."""
    import io

    import pydicom

    client, instances, size = server.client(), 0, 0
    for study in studies:
        series = [
            pydicom.Dataset.from_json(s) for s in client.search_for_series(study.study_uid, fields=["NumberOfSeriesRelatedInstances"])
        ]
        chosen = max(series, key=lambda s: int(s.get("NumberOfSeriesRelatedInstances", 0) or 0))
        for ds in client.iter_series(study.study_uid, str(chosen.SeriesInstanceUID), media_types=(("application/dicom", "*"),)):
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            instances, size = instances + 1, size + buffer.tell()
    return instances, size


def main() -> None:
    from deepq_widgets.pacs.importer import import_studies
    from deepq_widgets.pacs.search import StudyQuery, search_studies
    from deepq_widgets.workspace import WorkspacePaths
    from tests.pacs_server import running_orthanc

    demo = demo_workspace()
    scratch = Path(tempfile.mkdtemp(prefix="deepq-pacs-bench-"))
    extra = large_ct_series(scratch)
    kinds = {
        "160 px, 24 slices (40 studies)": StudyQuery(description="CTA CHEST"),
        "512 px, 80 slices (6 studies)": StudyQuery(description="LARGE CT"),
    }
    result: dict = {"rounds": ROUNDS}
    try:
        with running_orthanc(scratch / "orthanc", demo.root, extra=extra, every_demo_series=True) as server:
            for kind, query in kinds.items():
                studies = search_studies(server, query).studies
                runs: dict[str, list[float]] = {"dicomweb-client alone": [], "import, identifiers kept": [], "import, de-identified": []}
                counted = (0, 0)
                for r in range(ROUNDS):
                    start = time.perf_counter()
                    counted = fetch_alone(server, studies)
                    runs["dicomweb-client alone"].append(time.perf_counter() - start)
                    for label, deidentify in (("import, identifiers kept", False), ("import, de-identified", True)):
                        ws = WorkspacePaths(scratch / f"ws-{r}-{deidentify}")
                        start = time.perf_counter()
                        report = import_studies(ws, server, studies, "bench", deidentify=deidentify)
                        runs[label].append(time.perf_counter() - start)
                        assert report.imported == len(studies) and not report.left_out, report.summary()
                        shutil.rmtree(ws.root)
                instances, size = counted
                medians = {k: statistics.median(v) for k, v in runs.items()}
                base = medians["dicomweb-client alone"]
                result[kind] = {
                    "studies": len(studies),
                    "instances": instances,
                    "MB": round(size / 1e6, 1),
                    **{
                        k: {
                            "seconds": round(s, 2),
                            "instances_per_s": round(instances / s, 1),
                            "MB_per_s": round(size / 1e6 / s, 1),
                            "x_alone": round(s / base, 2),
                        }
                        for k, s in medians.items()
                    },
                    "deidentification_overhead": round(medians["import, de-identified"] / medians["import, identifiers kept"] - 1, 3),
                    "runs_s": {k: [round(x, 2) for x in v] for k, v in runs.items()},
                }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    save("pacs_import", result)
