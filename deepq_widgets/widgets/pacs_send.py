"""Send results to the PACS, on the Models tab: for a dataset imported from a PACS, the chosen model runs on its
studies and its results go back to the patients' own studies on that server (a DICOM SR of calls and scores, or a
DICOM SEG of masks), as `deepq predict --to-pacs` in a child process with a progress bar."""

from __future__ import annotations

import json
import re
import threading

import ipywidgets as w

from ..workspace import WorkspacePaths
from .child_commands import deepq
from .pacs_login import PacsLogin
from .style import esc

_PROGRESS = re.compile(r"sending results (\d+)/(\d+)")


class PacsSend:
    def __init__(self, workspace: WorkspacePaths):
        self.workspace = workspace
        self.model: str | None = None
        self.dataset: str | None = None
        self.login = PacsLogin()
        self.again = w.Checkbox(value=False, description="Also studies this model's results were sent for before", indent=False)
        self.send = w.Button(description="Send results to the PACS", button_style="primary", layout=w.Layout(width="auto"))
        self.progress = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="420px", display="none"))
        self.status = w.HTML()
        self.send.on_click(lambda _: self._in_background())
        about = w.HTML(
            "<div class='dq-muted'>The model runs on every study of this dataset; its results go back to each patient's "
            "own study on the PACS the dataset came from, marked as an unverified research result of this model.</div>"
        )
        form = w.VBox([about, *self.login.fields, self.again, self.send, self.progress, self.status])
        self.widget = w.Accordion(children=[form], titles=("Send results to the PACS",), selected_index=None)
        self.widget.layout.display = "none"

    def show_for(self, model: str | None, dataset: str | None) -> None:
        """Shown when `model` and a dataset imported from a PACS are chosen."""
        self.model, self.dataset = model, dataset
        imported = bool(model and dataset and (self.workspace.pacs / dataset / "mapping.csv").is_file())
        self.widget.layout.display = None if imported else "none"
        self.status.value = ""

    def _in_background(self) -> None:
        self.send.disabled = True

        def run() -> None:
            try:
                self._send()
            except (ValueError, RuntimeError) as exc:  # a refusal of the child's, or of the server's settings here
                self.status.value = f"<div class='dq-reason'>{esc(exc)}</div>"
            finally:
                self.send.disabled = False
                self.progress.layout.display = "none"

        threading.Thread(target=run, daemon=True).start()

    def _send(self) -> None:
        naming, env = self.login.child_arguments()
        args = ["predict", self.model, "--dataset", self.dataset, "--to-pacs", *naming] + ["--again"] * self.again.value
        self.progress.layout.display, self.progress.value = None, 0
        self.status.value = "<i>Running the model and sending its results…</i>"
        report = json.loads(deepq(self.workspace, *args, progress=self._advance, env=env, timeout=24 * 3600))
        objects = sum(len(v) for v in report["sent"].values())
        left_out = "".join(f"<li>{esc(k)}: {esc(v)}</li>" for k, v in report["left_out"].items())
        self.status.value = (
            f"<div class='dq-ok'>{objects} result objects sent for {len(report['sent'])} studies of <b>{esc(self.dataset)}</b>"
            f"; {len(report['kept'])} studies had this model's results already.</div>"
            + (f"<div class='dq-reason'>Not sent:<ul>{left_out}</ul></div>" if left_out else "")
        )

    def _advance(self, line: str) -> None:
        if found := _PROGRESS.search(line):
            self.progress.max, self.progress.value = max(1, int(found[2])), int(found[1])
