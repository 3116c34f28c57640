"""Import from PACS, on the dataset step: a DICOMweb query, the studies it finds (patient identifiers hidden unless
asked for, a slice of the first few), and an import into a new dataset, de-identified, run as `deepq pacs import`
on its own (pacs/import_job.py: it goes on when the page is closed, and a reloaded page follows it) with a progress
bar. The password stays in this page: it reaches the import in its environment, never on a command line (which any
user of the machine can read) and never in a file."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import ipywidgets as w

from ..files import atomic_write_text
from ..pacs.import_job import import_state, running_imports, start_import
from ..pacs.search import LIMIT, FoundStudy, SearchResult, StudyQuery, search_studies
from ..pacs.server import PacsError
from ..pacs.thumbnails import SHOWN, SIDE, may_show, study_thumbnail
from ..report import png_uri
from ..workspace import WorkspaceError, WorkspacePaths
from .pacs_login import PacsLogin, labelled
from .style import esc

QUERY = ("patient", "date", "modality", "description", "accession")
POLL_S = 0.5


class PacsPanel:
    def __init__(self, workspace: WorkspacePaths, imported: Callable[[str], None]):
        self.workspace, self.imported = workspace, imported
        self.found: SearchResult | None = None
        self.thumbnails: dict[str, bytes | None] = {}  # study UID -> its middle slice (the first few studies)
        self.login = PacsLogin()
        hints = dict(zip(QUERY, ("PatientID", "YYYYMMDD or YYYYMMDD-YYYYMMDD", "CT, MR…", "words", ""), strict=True))
        self.query = {name: labelled(w.Text, description=name.capitalize(), placeholder=hints[name]) for name in QUERY}
        self.limit = w.BoundedIntText(value=LIMIT, min=1, max=100_000, description="Limit", style={"description_width": "110px"})
        self.limit.layout.width = "220px"
        self.search = w.Button(description="Search the PACS", layout=w.Layout(width="auto"))
        self.identifiers = w.Checkbox(value=False, description="Show patient identifiers", indent=False)
        self.table = w.HTML()
        self.name = labelled(w.Text, description="New dataset", placeholder="a name for the imported studies")
        self.labels = w.FileUpload(accept=".csv", description="Labels CSV (accession, label)", layout=w.Layout(width="auto"))
        self.attribute = labelled(w.Text, description="or label by", placeholder="a DICOM attribute, e.g. BodyPartExamined")
        self.keep_ids = w.Checkbox(value=False, description="Keep identifiers (no de-identification)", indent=False)
        self.go = w.Button(description="Import", button_style="primary", disabled=True)
        self.progress = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="420px", display="none"))
        self.status = w.HTML()
        self.search.on_click(lambda _: self._in_background(self._search))
        self.go.on_click(lambda _: self._in_background(self._import))
        self.identifiers.observe(lambda _: self._draw(), "value")
        form = w.VBox(
            [
                w.HTML("<div class='dq-muted'>Studies from a DICOMweb server, de-identified on the way in (DICOM PS3.15 "
                       "basic profile); the key back to the PACS's identifiers is kept outside the dataset.</div>"),
                *self.login.fields, *self.query.values(), w.HBox([self.limit, self.search]),
                self.identifiers, self.table, self.name, w.HBox([self.labels, self.keep_ids]), self.attribute,
                w.HBox([self.go]), self.progress, self.status,
            ]
        )  # fmt: skip
        self.widget = w.Accordion(children=[form], titles=("Import from PACS",), selected_index=None)
        if running := running_imports(workspace):  # started before this page was (re)loaded
            self.widget.selected_index = 0
            self._in_background(lambda: [self.follow(name) for name in running])

    def _in_background(self, work: Callable[[], None]) -> None:
        """Network work off the kernel's thread, one at a time, every failure said in the panel."""
        self.search.disabled = self.go.disabled = True

        def run() -> None:
            try:
                work()
            except (PacsError, ValueError, WorkspaceError, RuntimeError) as exc:
                self.status.value = f"<div class='dq-reason'>{esc(exc)}</div>"
            finally:
                self.search.disabled = False
                self.go.disabled = not (self.found and self.found.studies and not self.found.more)

        threading.Thread(target=run, daemon=True).start()

    def _search(self) -> None:
        self.status.value = "<i>Searching…</i>"
        query = StudyQuery(**{name: field.value.strip() or None for name, field in self.query.items()})
        server = self.login.server()
        self.found = search_studies(server, query, self.limit.value)
        self.thumbnails = {}
        self._draw()
        self.status.value = "<i>Fetching a slice of the first studies…</i>"
        self.thumbnails = {s.study_uid: study_thumbnail(server, s) for s in self.found.studies[:SHOWN]}
        self.status.value = ""
        self._draw()

    def _draw(self) -> None:
        if self.found is None:
            self.table.value = ""
            return
        shown = self.identifiers.value
        rows = "".join(
            f"<tr><td>{self._thumbnail(s)}</td><td>{esc(r['date'])}</td><td>{esc(r['modalities'])}</td><td>{esc(r['description'])}</td>"
            f"<td>{r['series']}</td><td>{r['instances']}</td><td>{esc(r['patient_id'])}</td><td>{esc(r['accession'])}</td></tr>"
            for s, r in ((s, s.row(shown)) for s in self.found.studies)
        )
        head = "".join(f"<th>{h}</th>" for h in ("", "Date", "Modality", "Description", "Series", "Instances", "Patient", "Accession"))
        head = f"<tr>{head}</tr>"
        said = self.found.summary(self.limit.value)
        warn = "dq-reason" if self.found.more else "dq-muted"
        self.table.value = f"<div class='{warn}'>{esc(said)}</div>" + (f"<table class='dq-table'>{head}{rows}</table>" if rows else "")

    def _thumbnail(self, study: FoundStudy) -> str:
        """Its middle slice, where fetched and allowed (pixels that may carry names only with identifiers shown)."""
        picture = self.thumbnails.get(study.study_uid)
        if picture is None:
            return ""
        if not may_show(study, self.identifiers.value):
            return "<span class='dq-muted'>(hidden)</span>"
        return f"<img src='{png_uri(picture)}' width='{SIDE}' height='{SIDE}' alt='middle slice'>"

    def _import(self) -> None:
        name = self.name.value.strip()
        if not name:
            raise ValueError("Name the new dataset first.")
        self.workspace.dataset_dir(name)  # refuses a name that would leave datasets/
        naming, env = self.login.child_arguments()
        args = [*naming, "--limit", str(self.limit.value)]
        args += [arg for field, value in self.query.items() if (text := value.value.strip()) for arg in (f"--{field}", text)]
        args += ["--keep-identifiers"] if self.keep_ids.value else []
        args += ["--label-attribute", attribute] if (attribute := self.attribute.value.strip()) else []
        if self.labels.value:
            upload = self.workspace.pacs / name / "labels.csv"
            upload.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write_text(bytes(self.labels.value[0]["content"]).decode("utf-8-sig"), upload)
            args += ["--labels", str(upload)]
        start_import(self.workspace, name, args, env)
        self.follow(name)

    def follow(self, name: str) -> None:
        """The import into `name` until it ends (started here, or before this page was loaded): its progress, then
        its report; RuntimeError with its last words when it stopped without one."""
        self.status.value = f"<i>Importing into {esc(name)}… (it goes on if this page is closed)</i>"
        self.progress.layout.display, self.progress.value = None, 0
        try:
            while (state := import_state(self.workspace, name)).running:
                self.progress.max, self.progress.value = max(1, state.total), state.done
                time.sleep(POLL_S)
        finally:
            self.progress.layout.display = "none"
        self.progress.max, self.progress.value = max(1, state.total), state.done  # where it ended
        if state.report is None:
            raise RuntimeError(state.error or f"the import into {name} stopped without a word (pacs/{name}/import.log)")
        report = state.report
        left_out = "".join(f"<li>{esc(k)}: {esc(v)}</li>" for k, v in report["left_out"].items())
        burned = ", ".join(report["burned_in"])
        self.status.value = (
            f"<div class='dq-ok'>{report['imported']} studies imported into <b>{esc(name)}</b> ({report['instances']} instances, "
            f"{report['kept']} kept from before).</div>"
            + (f"<div class='dq-muted'>De-identified: {esc(report['removed'])}.</div>" if report["deidentified"] else "")
            + (f"<div class='dq-reason'>May carry burned-in text: {esc(burned)}.</div>" if burned else "")
            + (f"<div class='dq-reason'>Left out:<ul>{left_out}</ul></div>" if left_out else "")
        )
        self.imported(name)
