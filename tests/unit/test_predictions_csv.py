"""The predictions CSV a user downloads: paths as they know them, never the server's, and no cell that a
spreadsheet would run as a formula."""

import csv
import io
from pathlib import Path

from deepq_widgets.contracts import Prediction
from deepq_widgets.widgets.predictions import predictions_csv


def test_paths_are_under_the_datasets_folder_and_text_cells_never_run_as_formulas():
    datasets = Path("/srv/deepq/ws/datasets")
    rows = [
        Prediction(image=str(datasets / "lesions/benign/b_001.png"), summary="benign 0.91", decision="benign", values={"benign": 0.91}),
        Prediction(image=str(datasets / "liver/scan.nii.gz#3"), summary='=HYPERLINK("http://x")', decision="@SUM(A1)"),
        Prediction(image="/home/someone/upload/x.png", summary="-2+3", decision="malignant", values={"benign": -0.5}),
    ]
    table = list(csv.reader(io.StringIO(predictions_csv(rows, datasets))))
    assert [r[0] for r in table[1:]] == ["lesions/benign/b_001.png", "liver/scan.nii.gz#3", "x.png"]
    assert "/srv" not in "".join(",".join(r) for r in table) and "/home" not in "".join(",".join(r) for r in table)
    assert table[2][1:3] == ['\'=HYPERLINK("http://x")', "'@SUM(A1)"] and table[3][1] == "'-2+3"
    assert table[3][3] == "-0.5000"  # numbers stay numbers
