"""deepq pacs search|import: studies on a DICOMweb server (a PACS), and a dataset made of them, de-identified."""

from __future__ import annotations

import argparse
import csv
import getpass
import sys

from .common import arg, command, print_json, stderr_progress, workspace_of

URL = arg("--url", help="the server's DICOMweb root (default $DEEPQ_PACS_URL), e.g. http://pacs:8042/dicom-web")
USER = arg("--user", help="default $DEEPQ_PACS_USER; the password from $DEEPQ_PACS_PASSWORD, else asked for")


@command(
    "search a PACS (DICOMweb) for studies, or import them as a de-identified dataset of studies (resumable)",
    arg("action", choices=["search", "import"]),
    URL,
    USER,
    arg("--patient", help="PatientID (wildcards * and ?)"),
    arg("--date", help="StudyDate: YYYYMMDD or a range YYYYMMDD-YYYYMMDD"),
    arg("--modality", help="a modality in the study: CT, MR, CR..."),
    arg("--description", help="part of the study description (matched as the server matches: often case-sensitive)"),
    arg("--accession", help="accession number"),
    arg("--limit", type=int, default=200, help="the most studies listed or imported (default 200)"),
    arg("--dataset", help="import: the new dataset's name"),
    arg("--labels", help="import: a CSV of accession number and label (the first two columns), for label.csv"),
    arg("--label-attribute", help="import: label each study by this DICOM attribute (e.g. BodyPartExamined), not by a CSV"),
    arg("--keep-identifiers", action="store_true", help="import: skip de-identification (the files keep names and IDs)"),
    arg("--show-identifiers", action="store_true", help="search: show patient IDs, names and accession numbers"),
    arg("--json", action="store_true"),
)
def cmd_pacs(args: argparse.Namespace) -> int:
    from ..pacs.importer import ImportRefused, import_studies
    from ..pacs.search import StudyQuery, search_studies
    from ..pacs.server import PacsError

    try:
        server = pacs_server(args)
        query = StudyQuery(args.patient, args.date, args.modality, args.description, args.accession)
        found = search_studies(server, query, args.limit)
        if args.action == "search":
            rows = [s.row(args.show_identifiers) for s in found.studies]
            if args.json:
                print_json({"studies": rows, "more": found.more})
            else:
                print(found.summary(args.limit))
                for r in rows:
                    print(f"  {r['date']}  {r['modalities']:<6} {r['instances']:>5} instances  {r['description']}  {r['patient_id']}")
            return 0
        if not args.dataset:
            print("refused: name the new dataset with --dataset", file=sys.stderr)
            return 2
        if found.more:
            print(f"refused: {found.summary(args.limit)}", file=sys.stderr)
            return 2
        labels = _labels(args.labels) if args.labels else None
        ws = workspace_of(args)
        report = import_studies(
            ws, server, found.studies, args.dataset, not args.keep_identifiers, labels, stderr_progress, args.label_attribute
        )
    except (PacsError, ImportRefused, ValueError, OSError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    if args.json:
        from dataclasses import asdict

        print_json(asdict(report))
    else:
        print(report.summary())
    return 0  # studies left out are named in the report; the rest are in


def pacs_server(args: argparse.Namespace):
    """The server of `--url` / $DEEPQ_PACS_URL; the password from the environment, else asked for at a terminal."""
    from ..pacs.server import PacsServer

    server = PacsServer.from_environment(args.url, args.user)
    if server.user and server.password is None and sys.stdin.isatty():
        server = PacsServer(server.url, server.user, getpass.getpass(f"password for {server.user} at {server.url}: "))
    return server


def _labels(path: str) -> dict[str, str]:
    """Accession number -> label, from the first two columns of a CSV (a header row, if any, is skipped)."""
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(fh) if len(r) >= 2 and r[0].strip()]
    if rows and rows[0][0].strip().lower() in ("accession", "accessionnumber", "accession_number"):
        rows = rows[1:]
    return {r[0].strip(): r[1].strip() for r in rows}
