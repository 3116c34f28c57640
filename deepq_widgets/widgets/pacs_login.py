"""Where the PACS is and who asks, as the dashboard's PACS forms take it: URL and user prefilled from
$DEEPQ_PACS_URL and $DEEPQ_PACS_USER, a password field (or $DEEPQ_PACS_PASSWORD). A `deepq` child is given the
URL and user on its command line and the password in its environment only (a command line is world-readable)."""

from __future__ import annotations

import os

import ipywidgets as w

from ..pacs.server import PacsServer


class PacsLogin:
    def __init__(self):
        wide = w.Layout(width="420px")
        url = os.environ.get("DEEPQ_PACS_URL", "")
        self.url = w.Text(url, description="DICOMweb URL", placeholder="http://pacs:8042/dicom-web", layout=wide)
        self.user = w.Text(os.environ.get("DEEPQ_PACS_USER", ""), description="User", layout=wide)
        self.password = w.Password(description="Password", placeholder="or $DEEPQ_PACS_PASSWORD", layout=wide)
        self.fields = [self.url, self.user, self.password]

    def server(self) -> PacsServer:
        return PacsServer.from_environment(self.url.value.strip() or None, self.user.value.strip() or None, self.password.value or None)

    def child_arguments(self) -> tuple[list[str], dict[str, str]]:
        """(the arguments naming the server, the environment carrying its password) for a `deepq` child."""
        server = self.server()
        args = ["--url", server.url] + (["--user", server.user] if server.user else [])
        return args, {"DEEPQ_PACS_PASSWORD": server.password} if server.password else {}
