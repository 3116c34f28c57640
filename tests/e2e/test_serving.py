"""The real server refuses anonymous network use and foreign Host headers (DNS rebinding)."""

import http.client
import time

import psutil

from tests.e2e.conftest import served


def get(port: int, path: str, host: str | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", path, headers={"Host": host or f"127.0.0.1:{port}"})
    response = connection.getresponse()
    return response.status, response.read().decode(errors="replace")


def test_on_loopback_a_foreign_host_is_refused(e2e_ws):
    with served(e2e_ws) as (port, _):
        assert get(port, "/", host=f"rebound.attacker.example:{port}")[0] == 403
        assert get(port, "/api/kernels", host=f"rebound.attacker.example:{port}")[0] == 403
        status, page = get(port, "/", host=f"localhost:{port}")
        assert status == 200 and "jupyter-widgets" in page.lower()


def test_on_a_network_address_the_token_is_required(e2e_ws):
    (e2e_ws.root / "exports").mkdir(exist_ok=True)
    (e2e_ws.root / "exports" / "model.onnx").write_bytes(b"onnx bytes" * 1000)
    with served(e2e_ws, "--ip", "0.0.0.0", "--allow-host", "dashboard.lab", env={"DEEPQ_TOKEN": "s3cret-token"}) as (port, log):
        status, page = get(port, "/")
        assert status in (302, 403) and "jupyter-widgets" not in page.lower()  # to the login page, never the dashboard
        assert get(port, "/?token=wrong")[0] in (302, 403)
        status, page = get(port, "/?token=s3cret-token", host=f"dashboard.lab:{port}")
        assert status == 200 and "jupyter-widgets" in page.lower()
        assert get(port, "/?token=s3cret-token", host=f"rebound.attacker.example:{port}")[0] == 403
        assert "?token=s3cret-token" in log()  # the address to open is printed for the user
        exported = "/deepq/exports/model.onnx"  # streamed by the server, behind the same token and Host check
        assert get(port, exported)[0] in (302, 403) and get(port, exported + "?token=wrong")[0] in (302, 403)
        assert get(port, exported + "?token=s3cret-token") == (200, "onnx bytes" * 1000)
        assert get(port, exported + "?token=s3cret-token", host=f"rebound.attacker.example:{port}")[0] == 403
        for outside in ("..%2Fdeepq.sqlite", "%2E%2E", "nothing.onnx"):
            assert get(port, f"/deepq/exports/{outside}?token=s3cret-token")[0] == 404, outside
        lines = [" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])]
        assert any(f"--port={port}" in line for line in lines) and not any("s3cret" in line for line in lines)  # not in `ps`


def test_a_reload_shuts_the_old_page_kernel_down(browser, e2e_ws):
    """The page's unload beacon carries the `_xsrf` cookie, so a reload ends its kernel instead of a 403 that
    leaves it running (Voilà never set the cookie: voila-dashboards/voila#1458)."""
    from playwright.sync_api import expect

    with served(e2e_ws) as (port, log):
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        expect(page.get_by_text("Create new task").first).to_be_visible(timeout=60_000)
        page.reload()
        expect(page.get_by_text("Create new task").first).to_be_visible(timeout=60_000)
        deadline = time.time() + 30
        while "Kernel shutdown" not in log() and time.time() < deadline:
            time.sleep(0.5)
        context.close()
        assert "Kernel shutdown" in log()
        assert "_xsrf' argument missing" not in log()
