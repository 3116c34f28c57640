"""The training cache of studies: each slice decoded once, keyed per slice; batches of (B, S, C, H, W) slices
spread over each volume in patient order."""

from __future__ import annotations

import numpy as np
import torch

from deepq_widgets.data.cache import build_cache
from deepq_widgets.data.preprocess import network_pixels
from deepq_widgets.data.slice_pixels import slice_pixels
from deepq_widgets.training.loaders import BatchLoader, study_positions, with_neighbours
from tests.helpers import write_csv
from tests.unit.study_files import ct_series
from tests.unit.test_studies import scan_dataset_at

DEPTHS = {"a0": 4, "a1": 6, "a2": 5, "b0": 3, "b1": 7, "b2": 4}


def studies(tmp_path, labels: dict[str, str] | None = None):
    root = tmp_path / "ds"
    for name, depth in DEPTHS.items():
        ct_series(root / name, [5.0 * k for k in range(depth)], patient=name)
    labels = labels or {name: "x" if name.startswith("a") else "y" for name in DEPTHS}
    write_csv(root / "label.csv", ["path", "class"], sorted(labels.items()))
    return scan_dataset_at(root)


def test_each_slice_is_one_row_in_patient_order(tmp_path):
    info = studies(tmp_path)
    data = build_cache(info, tmp_path / "cache", 32, ["lung"], processes=1)
    assert data.images.shape[0] == sum(DEPTHS.values()) and len(data.cases) == 6
    assert [len(rows) for rows in data.slices] == [c.volume.depth for c in data.cases]
    case = data.cases[1]
    for k, ref in enumerate(case.volume.slices):
        expected = network_pixels(slice_pixels(ref, ["lung"]).pixels, 1, 32)
        np.testing.assert_array_equal(data.images[data.slices[1][k]], expected)
    assert data.labels.shape == (6, 2) and data.fingerprint


def test_relabelling_a_study_decodes_no_slice_again(tmp_path):
    info = studies(tmp_path)
    first = build_cache(info, tmp_path / "cache", 32, processes=1)
    labels = {name: "x" if name in ("a0", "a1", "b0") else "y" for name in DEPTHS}
    write_csv(info.path / "label.csv", ["path", "class"], sorted(labels.items()))
    from deepq_widgets.data.catalog import scan_dataset
    from deepq_widgets.workspace import WorkspacePaths

    relabelled = scan_dataset(WorkspacePaths(info.path.parent.parent), info.name)
    decoded = []
    second = build_cache(relabelled, tmp_path / "cache", 32, processes=1, progress=lambda done, total: decoded.append(total))
    assert not decoded  # every slice's row was kept
    assert second.fingerprint != first.fingerprint  # the labels changed: a resumed task refuses it
    b0 = [c.title for c in second.cases].index("b0")
    assert second.cases[b0].labels == ("x",) and second.labels[b0].tolist() == [1.0, 0.0]


def test_a_slice_that_no_longer_decodes_leaves_its_study_out_named(tmp_path):
    info = studies(tmp_path)
    info.cases[2].volume.slices[1].path.write_bytes(b"not a dicom any more")
    data = build_cache(info, tmp_path / "cache", 32, processes=1)
    assert len(data.cases) == 5 and info.cases[2].title not in [c.title for c in data.cases]
    assert any(p.startswith(info.cases[2].title) and "left out" in p for p in data.problems)


def test_study_batches_are_bounded_and_spread_over_the_volume(tmp_path):
    info = studies(tmp_path)
    data = build_cache(info, tmp_path / "cache", 32, processes=1)
    loader = BatchLoader(data, list(range(6)), lambda d, idx, theta, dev: (torch.from_numpy(d.labels[idx].argmax(1)),), 4, [0.5], [0.25])
    loader.slices = 3
    x, y, slice_y = loader.batch(np.arange(4))
    assert x.shape == (4, 3, 1, 32, 32) and y.tolist() == [0, 0, 0, 1]
    assert slice_y.shape == (4, 3) and (slice_y == -1).all()  # no slice labels
    assert study_positions(6, 3, None).tolist() == [1, 3, 5]  # the middle of each third
    drawn = study_positions(6, 3, torch.Generator().manual_seed(0))
    assert np.all(np.diff(drawn) > 0) and drawn[0] in (0, 1) and drawn[2] in (4, 5)
    assert study_positions(2, 4, None).tolist() == [0, 0, 1, 1]  # a short study repeats evenly


def test_in_2_5d_each_slice_comes_with_its_neighbours_and_its_slice_label(tmp_path):
    info = studies(tmp_path)
    first = info.cases[0]  # a0: 4 slices
    first.volume.slice_labels = {2: ("x",), 3: ("y",)}
    data = build_cache(info, tmp_path / "cache", 32, processes=1)
    assert data.slice_classes[0].tolist() == [-1, -1, 0, 1] and (data.slice_classes[1] == -1).all()
    assert with_neighbours(np.array([0, 2, 3]), 1, 4).tolist() == [[0, 0, 1], [1, 2, 3], [2, 3, 3]]  # held at the ends
    loader = BatchLoader(data, [0], lambda d, idx, theta, dev: (torch.zeros(len(idx)),), 1, [0.0], [1.0], slices=4, context=1)
    x, _, slice_y = loader.batch(np.array([0]))
    assert x.shape == (1, 4, 3, 1, 32, 32) and slice_y.tolist() == [[-1, -1, 0, 1]]
    whole = torch.from_numpy(np.asarray(data.images[data.slices[0]])).permute(0, 3, 1, 2).float() / 255
    torch.testing.assert_close(x[0, 1], whole[[0, 1, 2]])  # slice 2 with slices 1 and 3 (patient order)
    torch.testing.assert_close(x[0, 3], whole[[2, 3, 3]])
