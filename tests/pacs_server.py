"""A real PACS for the PACS tests: Debian's Orthanc with its DICOMweb plugin, started here on a loopback port with
HTTP basic authentication and remote access off, filled with studies two writers made (the demo's embolism CT
series and pydicom's own CT and MR files) and one whose pixels no decoder here reads. A filter of its own (Lua)
keeps no structured report of patient PE-0002 yet answers the store as a success, as a PACS's policy may. In CI
(CI=true) a missing Orthanc fails the run (scripts/ensure_orthanc.sh installs it); elsewhere these tests skip."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from deepq_widgets.pacs.server import PacsServer

USER, PASSWORD = "deepq", "pacs-test-secret"
PLUGINS = ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so", "/usr/lib/orthanc/libOrthancDicomWeb.so")
UNDECODABLE = "1.2.840.10008.1.2.4.100"  # MPEG2: Orthanc stores it, nothing here decodes it
REFUSES_REPORTS_OF = "PE-0002"
POLICY = f"""
function ReceivedInstanceFilter(dicom, origin, info)
   return not (dicom.Modality == 'SR' and dicom.PatientID == '{REFUSES_REPORTS_OF}')
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _orthanc_or_skip() -> tuple[str, str]:
    binary, plugin = shutil.which("Orthanc") or "/usr/sbin/Orthanc", next((p for p in PLUGINS if Path(p).exists()), None)
    if Path(binary).exists() and plugin:
        return binary, plugin
    if os.environ.get("CI") == "true":
        pytest.fail("Orthanc with DICOMweb is required in CI: apt-get install -y orthanc orthanc-dicomweb (scripts/ensure_orthanc.sh)")
    pytest.skip("Orthanc is not installed; run scripts/ensure_orthanc.sh to enable the PACS tests")


def _ask(url: str, data: bytes | None = None, method: str | None = None) -> bytes:
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.read()


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory, demo_root) -> Iterator[PacsServer]:
    """The PACS the searches and imports read: nothing is stored into it."""
    with running_orthanc(tmp_path_factory.mktemp("orthanc"), demo_root) as server:
        yield server


@pytest.fixture(scope="module")
def writable_pacs(tmp_path_factory, demo_root) -> Iterator[PacsServer]:
    """A PACS of the same studies for the tests that store results into it."""
    with running_orthanc(tmp_path_factory.mktemp("writable_pacs"), demo_root) as server:
        yield server


@contextmanager
def running_orthanc(folder: Path, demo_root: Path, extra: Sequence[Path] = (), every_demo_series: bool = False) -> Iterator[PacsServer]:
    """Orthanc on a loopback port, filled with `studies_to_store` and `extra` files (benchmarks/pacs_import.py too)."""
    binary, plugin = _orthanc_or_skip()
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = {
        "Name": "deepq-test-pacs",
        "StorageDirectory": str(folder / "db"),
        "IndexDirectory": str(folder / "db"),
        "HttpPort": port,
        "DicomServerEnabled": False,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [plugin],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "LuaScripts": [str(folder / "policy.lua")],
    }
    (folder / "policy.lua").write_text(POLICY)
    (folder / "orthanc.json").write_text(json.dumps(config))
    with open(folder / "orthanc.log", "wb") as log:
        process = subprocess.Popen([binary, str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    root = f"http://127.0.0.1:{port}"
    try:
        _wait_for(root, process, folder / "orthanc.log")
        for path in [*studies_to_store(demo_root, folder, every_demo_series), *extra]:
            _ask(f"{root}/instances", path.read_bytes(), "POST")
        yield PacsServer(f"{root}/dicom-web", USER, PASSWORD, timeout_s=10)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_for(root: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Orthanc ended at start:\n{log.read_text()[-2000:]}")
        try:
            _ask(f"{root}/system")
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise RuntimeError(f"Orthanc did not answer within 60 s:\n{log.read_text()[-2000:]}")


def studies_to_store(demo_root: Path, folder: Path, every_demo_series: bool = False) -> list[Path]:
    """Three embolism CT series (the demo's writer; all 40 if asked), pydicom's CT and MR files (other writers), one
    undecodable."""
    import pydicom
    from pydicom.data import get_testdata_file

    files = sorted((demo_root / "datasets" / "chest_cta_embolism").glob("PE-*/*.dcm" if every_demo_series else "PE-000[0-2]/*.dcm"))
    files += [Path(get_testdata_file(name)) for name in ("CT_small.dcm", "MR_small.dcm")]
    odd = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    odd.file_meta.TransferSyntaxUID = UNDECODABLE
    odd.StudyInstanceUID, odd.SeriesInstanceUID, odd.SOPInstanceUID = (pydicom.uid.generate_uid() for _ in range(3))
    odd.StudyDescription, odd.AccessionNumber = "UNDECODABLE MR", "ODD1"
    odd.PixelData = pydicom.encaps.encapsulate([b"\x00\x00\x01\xb3" + bytes(60)])
    odd.is_implicit_VR, odd.is_little_endian = False, True
    odd.save_as(folder / "undecodable.dcm", enforce_file_format=True)
    return [*files, folder / "undecodable.dcm"]


class FaultyProxy:
    """The server seen through a proxy that, once `stall` names a study UID, holds back every request for it (a
    server that stops answering mid-import), and once `damage` names one, cuts each instance it sends of that study
    to its first 100 bytes (instances that fail to parse)."""

    def __init__(self, server: PacsServer):
        self.stall: str | None = None
        self.damage: str | None = None
        self.released = threading.Event()
        target, outer = server.url.removesuffix("/dicom-web"), self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if outer.stall and outer.stall in self.path:
                    outer.released.wait(120)
                request = urllib.request.Request(
                    target + self.path, headers={k: v for k, v in self.headers.items() if k not in ("Host", "Accept-Encoding")}
                )
                try:
                    with urllib.request.urlopen(request, timeout=60) as answer:
                        body, status, headers = answer.read(), answer.status, answer.headers
                except urllib.error.HTTPError as refused:
                    body, status, headers = refused.read(), refused.code, refused.headers
                if outer.damage and outer.damage in self.path and "/series/" in self.path:
                    body = _cut_parts(body, headers.get("Content-Type", ""))
                try:
                    self.send_response(status)
                    if headers.get("Content-Type"):
                        self.send_header("Content-Type", headers["Content-Type"])
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting, as the test means it to

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/dicom-web"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.released.set()
        self.http.shutdown()
        self.http.server_close()


def _cut_parts(body: bytes, content_type: str, keep: int = 100) -> bytes:
    """A multipart answer with each part's content cut to `keep` bytes (inside a DICOM file's preamble)."""
    boundary = content_type.split("boundary=")[-1].strip('"').encode()
    parts = body.split(b"--" + boundary)
    cut = [p[: p.index(b"\r\n\r\n") + 4 + keep] + b"\r\n" if b"\r\n\r\n" in p else p for p in parts]
    return (b"--" + boundary).join(cut)


@pytest.fixture
def faulty(orthanc):
    proxy = FaultyProxy(orthanc)
    yield proxy
    proxy.close()
