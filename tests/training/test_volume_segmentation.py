"""Segmentation on volumes end to end: a short fit on the demo's NIfTI volumes with NIfTI label maps (slice by
slice), then predict on the dataset and on a volume: one mask per slice, each named so that the views read it."""

from __future__ import annotations

import nibabel as nib
import pytest

from deepq_widgets.data.preview import read_shown
from deepq_widgets.training.export import predict, predict_to_files

from .conftest import run_in_process, spec_json


@pytest.fixture(scope="module")
def trained(demo_root, tmp_path_factory):
    """(workspace, task row) of a 1-epoch segmentation run at 64 px on `liver_ct_nifti`."""
    import shutil

    from deepq_widgets.workspace import WorkspacePaths

    root = tmp_path_factory.mktemp("volseg") / "ws"
    shutil.copytree(demo_root, root)
    ws = WorkspacePaths(root)
    argv = ["--flow", "general", "--task", "segmentation", "--dataset", "liver_ct_nifti", "--tuning", "manual"]
    spec = spec_json(ws, [*argv, "--image-size", "64", "--epochs", "1", "--batch-size", "16"], name="liver volumes")
    row, _ = run_in_process(ws, spec)
    assert row.state == "finished", row.error
    return ws, row


def test_predict_on_a_volume_dataset_names_each_slice_and_draws_its_mask(trained):
    ws, row = trained
    rows = predict_to_files(ws, row.model_id, [], dataset="liver_ct_nifti", overlays="overlays")
    volumes = sorted((ws.datasets / "liver_ct_nifti" / "images").glob("*.nii.gz"))
    depth = nib.load(volumes[0]).shape[2]
    assert len(rows) == len(volumes) * depth  # every slice of every volume, not the volume read as one picture
    first = [r for r in rows if r.image.startswith(f"{volumes[0]}#")]
    assert sorted(int(r.image.rpartition("#")[2]) for r in first) == list(range(1, depth + 1))
    assert all(r.mask_file and (ws.root / r.mask_file).is_file() for r in rows)
    shown = read_shown(first[0].image)
    assert shown.pixels.shape[:2] == nib.load(volumes[0]).shape[1::-1]  # the slice as the views show it


def test_a_model_of_slices_given_a_volume_predicts_each_slice(trained):
    ws, row = trained
    volume = sorted((ws.datasets / "liver_ct_nifti" / "images").glob("*.nii.gz"))[0]
    said = predict(ws, row.model_id, [volume])
    assert [s.prediction.image for s in said] == [f"{volume}#{k + 1}" for k in range(nib.load(volume).shape[2])]
    assert all(s.mask is not None and s.mask.shape == (64, 64) for s in said)
