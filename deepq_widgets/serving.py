"""How the dashboard is served: never anonymously on the network, never to a foreign Host.

On the loopback address (the default) only this machine can connect, and no token is needed.
On any other address a token is required (Jupyter Server's own token login: the first visit
opens `http://HOST:PORT/?token=...`, later ones carry a cookie), tracebacks are hidden, and
only the host names given with `--allow-host` (plus loopback) are served. The Host check
applies on loopback too: a web page whose name was re-pointed at 127.0.0.1 (DNS rebinding)
is refused.

`deepq serve` runs `python -m deepq_widgets.serving ARGS...`; this module installs the Host
check into Jupyter Server's handlers and starts Voilà in the same process.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

TOKEN_ENV = "DEEPQ_TOKEN"
LOOPBACK_NAMES = ("localhost",)
ALLOWED_HOSTS_SETTING = "deepq_allowed_hosts"
ALLOWED_HOSTS_ENV = "DEEPQ_ALLOWED_HOSTS"
DOWNLOADS_ENV = "DEEPQ_DOWNLOAD_ROUTE"  # set for the kernels when the server streams the workspace's exports
DOWNLOADS_PATH = "deepq/exports"  # relative to the dashboard's page
SERVED_TOKEN_ENV = "DEEPQ_SERVED_TOKEN"  # `deepq serve` hands the token over here: a command line is world-readable
TEMPLATE = "deepq"  # notebooks/jupyter/voila/templates/deepq: Voilà's lab template without CDN stylesheets


def is_loopback(ip: str) -> bool:
    """127.0.0.1, ::1 or localhost: only this machine can connect."""
    if ip in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def host_allowed(host_header: str, allowed: Sequence[str]) -> bool:
    """Whether a request's Host header names this server: loopback, or one of the `allowed` names or addresses."""
    host = re.sub(r":\d+$", "", host_header.strip().lower())
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return bool(host) and (is_loopback(host) or host in {h.lower() for h in allowed})


def voila_argv(notebook: Path, config_dir: Path, port: int, ip: str, token: str | None, preheat: bool = True) -> list[str]:
    """Voilà's arguments: the bundled notebook and its voila.json (one preheated kernel waits, the notebook
    already run, unless `preheat` is off); a token and no tracebacks off loopback."""
    argv = [str(notebook), f"--port={port}", f"--Voila.ip={ip}", "--no-browser", f"--Voila.config_file_paths={[str(config_dir)]!r}"]
    if not preheat:
        argv.append("--VoilaConfiguration.preheat_kernel=False")
    argv.append(f"--template={TEMPLATE}")  # found through template_path(config_dir) on JUPYTER_PATH
    if not is_loopback(ip):
        if not token:
            raise ValueError("a dashboard on a network address needs a token")
        argv.append("--VoilaConfiguration.show_tracebacks=False")  # the token travels in $DEEPQ_SERVED_TOKEN, not here
    return argv


def served_names(ip: str, extra: Sequence[str] = ()) -> list[str]:
    """The host names and addresses browsers may use for this server: on a network address, this
    machine's name, full name and addresses, plus `extra` (a proxy's name, say)."""
    names = list(extra)
    if not is_loopback(ip):
        names.append(ip)
        try:
            hostname = socket.gethostname()
            names += [hostname, socket.getfqdn(), *socket.gethostbyname_ex(hostname)[2]]
        except OSError:  # a machine that cannot resolve its own name: only what was given
            pass
    return sorted({n.lower() for n in names if n and n not in ("0.0.0.0", "::")})


def template_path(config_dir: Path) -> str:
    """JUPYTER_PATH with the bundled template folder first."""
    return os.pathsep.join(p for p in (str(config_dir / "jupyter"), os.environ.get("JUPYTER_PATH", "")) if p)


def kernel_callback_ip(ip: str) -> str:
    """The address a preheated kernel reaches this server on, to learn that a page claimed it
    (Voilà's `wait_for_request`): loopback when the server listens on every interface."""
    return "127.0.0.1" if ip in ("0.0.0.0", "::", "") or is_loopback(ip) else ip


def network_token(ip: str, given: str | None = None) -> str | None:
    """The token a network-facing dashboard requires: the one given (`--token` or $DEEPQ_TOKEN), or a new random one."""
    if is_loopback(ip):
        return None
    return given or os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(24)


def install_host_check() -> None:
    """Make every Jupyter Server handler (pages, kernels, websockets) refuse a Host that is not ours."""
    from jupyter_server.base.handlers import JupyterHandler

    def check_host(handler: JupyterHandler) -> bool:
        allowed = host_allowed(handler.request.host, handler.settings.get(ALLOWED_HOSTS_SETTING, ()))
        if not allowed:
            handler.log.warning("Refused a request for Host %r (not this dashboard's name)", handler.request.host)
        return allowed

    JupyterHandler.check_host = check_host


def install_xsrf_cookie() -> None:
    """Give the dashboard page Jupyter's `_xsrf` cookie. On unload the page sends Voilà a beacon to shut its
    kernel down, with the token read from that cookie; Voilà never sets it (voila-dashboards/voila#1458), so
    every reload or closed tab logged a 403 and left its kernel running until culled."""
    from voila.handler import VoilaHandler

    prepare = VoilaHandler.prepare

    async def prepare_with_cookie(self: VoilaHandler, *args: object, **kwargs: object) -> None:
        await prepare(self, *args, **kwargs)
        _ = self.xsrf_token  # tornado sets the cookie the first time the token is read

    VoilaHandler.prepare = prepare_with_cookie


def export_download_handler() -> type:
    """A file of the workspace's `exports/` folder, streamed to the browser in chunks: a model of 200 MB never
    travels through the page's widget state as base64. Behind the server's token and Host check (a
    JupyterHandler); only a file directly in that folder is served."""
    import tornado.web
    from jupyter_server.base.handlers import JupyterHandler

    class ExportDownload(JupyterHandler):
        def initialize(self, folder: str) -> None:
            self.folder = Path(folder).resolve()

        @tornado.web.authenticated
        async def get(self, name: str) -> None:
            path = (self.folder / name).resolve()
            if path.parent != self.folder or not path.is_file():
                raise tornado.web.HTTPError(404)
            self.set_header("Content-Type", "application/octet-stream")
            self.set_header("Content-Disposition", f'attachment; filename="{path.name}"')
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    self.write(chunk)
                    await self.flush()

    return ExportDownload


def main(argv: list[str] | None = None) -> None:
    """Voilà with the Host check, in this process (signals reach the server itself). The names to
    serve come in $DEEPQ_ALLOWED_HOSTS (comma-separated) and a network address's token in
    $DEEPQ_SERVED_TOKEN, both set by `deepq serve` (the process list shows every command line)."""
    from voila.app import Voila

    install_host_check()
    install_xsrf_cookie()
    allowed = [h for h in os.environ.get(ALLOWED_HOSTS_ENV, "").split(",") if h]
    settings = {"allow_remote_access": False, ALLOWED_HOSTS_SETTING: allowed}
    token = os.environ.pop(SERVED_TOKEN_ENV, None)  # gone before any kernel starts: they inherit the environment
    given = {"token": token} if token else {}
    exports = str(Path(os.environ.get("DEEPQ_WORKSPACE", "workspace")) / "exports")

    class Dashboard(Voila):
        def init_handlers(self) -> list:
            from jupyter_server.utils import url_path_join

            route = url_path_join(self.server_url, f"/{DOWNLOADS_PATH}/([^/]+)")
            return [(route, export_download_handler(), {"folder": exports}), *super().init_handlers()]  # before its catch-all

    os.environ[DOWNLOADS_ENV] = "1"  # the kernels link exports to the route
    Dashboard.launch_instance(sys.argv[1:] if argv is None else argv, tornado_settings=settings, **given)


if __name__ == "__main__":
    main()
