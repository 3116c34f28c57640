"""Weights on disk: a file a crash left empty or cut short is not taken for a trained ensemble member, and a
full disk is said as such (not as safetensors' "Error while serializing: IoError(...)")."""

import os
import subprocess

import pytest
import torch

from deepq_widgets.training.checkpoint import atomic_save_tensors, complete_tensors


def test_only_a_whole_safetensors_file_counts_as_trained(tmp_path):
    whole = tmp_path / "1.safetensors"
    atomic_save_tensors({"w": torch.ones(1000)}, whole)
    assert complete_tensors(whole)
    (tmp_path / "2.safetensors").write_bytes(b"")  # what a power cut after a rename without fsync can leave
    (tmp_path / "3.safetensors").write_bytes(whole.read_bytes()[:-100])
    assert not complete_tensors(tmp_path / "2.safetensors") and not complete_tensors(tmp_path / "3.safetensors")
    assert not complete_tensors(tmp_path / "4.safetensors")
    assert not list(tmp_path.glob(".*.tmp"))  # nothing left beside


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB file system of its own (tmpfs; needs root, as in CI)."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs as root and can mount a tmpfs: {mounted.stderr}")
        pytest.skip(f"a small file system needs root: {mounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


def test_a_full_disk_is_said_and_leaves_no_file(full_disk):
    target = full_disk / "model.safetensors"
    with pytest.raises(OSError, match=r"the disk is full \(0 MiB free in .*\): the weights could not be written"):
        atomic_save_tensors({"w": torch.zeros(100_000)}, target)
    assert list(full_disk.iterdir()) == []  # no part-written file, hidden or not
