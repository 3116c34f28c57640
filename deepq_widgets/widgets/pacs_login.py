"""Where the PACS is and who asks, as the dashboard's PACS forms take it: URL and user prefilled from
$DEEPQ_PACS_URL and $DEEPQ_PACS_USER, a password field (or $DEEPQ_PACS_PASSWORD). A `deepq` child is given the
URL and user on its command line and the password in its environment only (a command line is world-readable)."""

from __future__ import annotations

import os

import ipywidgets as w

from ..pacs.server import PacsServer


def labelled(kind: type[w.Widget], **options) -> w.Widget:
    """A form field with room for its label, so that every PACS form's fields line up ("DICOMweb URL", "New dataset")."""
    return kind(layout=w.Layout(width="460px"), style={"description_width": "110px"}, **options)


class PacsLogin:
    def __init__(self):
        url, user = os.environ.get("DEEPQ_PACS_URL", ""), os.environ.get("DEEPQ_PACS_USER", "")
        self.url = labelled(w.Text, value=url, description="DICOMweb URL", placeholder="http://pacs:8042/dicom-web")
        self.user = labelled(w.Text, value=user, description="User")
        self.password = labelled(w.Password, description="Password", placeholder="or $DEEPQ_PACS_PASSWORD")
        self.fields = [self.url, self.user, self.password]

    def server(self) -> PacsServer:
        return PacsServer.from_environment(self.url.value.strip() or None, self.user.value.strip() or None, self.password.value or None)

    def child_arguments(self) -> tuple[list[str], dict[str, str]]:
        """(the arguments naming the server, the environment carrying its password) for a `deepq` child."""
        server = self.server()
        args = ["--url", server.url] + (["--user", server.user] if server.user else [])
        return args, {"DEEPQ_PACS_PASSWORD": server.password} if server.password else {}
