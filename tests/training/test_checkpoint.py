"""A checkpoint is one set on disk, and the store never says more epochs are done than the set holds."""

import json
import os
import time

import pytest
import torch

from deepq_widgets.contracts import CheckpointInfo, EpochEvent
from deepq_widgets.store import ERROR, FINISHED
from deepq_widgets.training.checkpoint import complete_set, load_checkpoint, save_checkpoint
from tests.training.conftest import general_spec, run_in_process


def tensors(value: float) -> dict[str, torch.Tensor]:
    return {"w": torch.full((4,), value)}


def epoch_of(folder) -> int:
    return json.loads((complete_set(folder) / "checkpoint.json").read_text())["epoch"]


def test_a_set_replaces_the_last_whole_and_shares_unchanged_best_weights(tmp_path):
    folder = tmp_path / "checkpoint"
    save_checkpoint(folder, tensors(1), {}, {"state": [], "hypers": []}, CheckpointInfo(epoch=0), best=tensors(1))
    save_checkpoint(folder, tensors(2), {}, {"state": [], "hypers": []}, CheckpointInfo(epoch=1))  # no better epoch: best kept
    assert epoch_of(folder) == 1
    model = torch.nn.Module()
    model.register_buffer("w", torch.zeros(4))
    load_checkpoint(folder, model, None)
    assert model.w.tolist() == [2.0] * 4
    from safetensors.torch import load_file

    assert load_file(str(folder / "best.safetensors"))["w"].tolist() == [1.0] * 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]  # no temporary folders left


def test_a_kill_at_any_point_of_a_write_leaves_one_complete_set(tmp_path, monkeypatch):
    from deepq_widgets.training import checkpoint

    folder = tmp_path / "checkpoint"
    save_checkpoint(folder, tensors(1), {}, {"state": [], "hypers": []}, CheckpointInfo(epoch=0), best=tensors(1))

    def killed(*_):
        raise KeyboardInterrupt  # the process dies here

    monkeypatch.setattr(checkpoint, "fsync_file", killed)  # mid-write: files written, not yet swapped in
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(folder, tensors(2), {}, {"state": [], "hypers": []}, CheckpointInfo(epoch=1))
    monkeypatch.undo()
    assert epoch_of(folder) == 0
    (tmp_path / ".checkpoint.999999.tmp").mkdir()  # what SIGKILL mid-write leaves (no finally runs)
    (tmp_path / ".checkpoint.999999.tmp" / "last.safetensors").write_bytes(b"partial")
    an_hour_ago = time.time() - 3600
    os.utime(tmp_path / ".checkpoint.999999.tmp", (an_hour_ago, an_hour_ago))
    (tmp_path / ".checkpoint.888888.tmp").mkdir()  # another run of the task writing now (a second host's): kept

    real_rename = os.rename

    def rename_then_die(src, dst):
        real_rename(src, dst)
        if str(dst).endswith(".previous"):
            raise KeyboardInterrupt  # between the two renames of the swap

    monkeypatch.setattr(type(folder), "rename", lambda self, dst: rename_then_die(self, dst))
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(folder, tensors(2), {}, {"state": [], "hypers": []}, CheckpointInfo(epoch=1))
    monkeypatch.undo()
    assert not folder.exists() and epoch_of(folder) == 0  # the set put aside is still complete
    save_checkpoint(folder, tensors(3), {}, {"state": [], "hypers": []}, CheckpointInfo(epoch=2))
    assert epoch_of(folder) == 2 and sorted(p.name for p in tmp_path.iterdir()) == [".checkpoint.888888.tmp", "checkpoint"]


@pytest.mark.slow
def test_the_store_never_runs_ahead_of_the_checkpoint(demo_copy, capsys, monkeypatch):
    from deepq_widgets.training.sink import StoreSink

    seen = []
    report = StoreSink.event

    def event(sink, e):
        if isinstance(e, EpochEvent):
            folder = demo_copy.task_dir(sink.task_id) / "checkpoint"
            seen.append((e.epoch, epoch_of(folder)))
        report(sink, e)

    monkeypatch.setattr(StoreSink, "event", event)  # observes what is on disk when each epoch is stored
    spec = general_spec(
        demo_copy, capsys, "single_label", "ultrasound_lesions", "sets", hyper__epochs=3, hyper__early_stop=False, image_size=64
    )
    row, _ = run_in_process(demo_copy, spec)
    assert row.state == FINISHED, row.error
    assert [epoch for epoch, _ in seen] == [0, 1, 2]
    assert all(on_disk >= epoch for epoch, on_disk in seen), seen


@pytest.mark.slow
def test_resume_refuses_a_dataset_that_changed(demo_copy, capsys):
    from deepq_widgets.spec import parse_spec
    from deepq_widgets.store import Store
    from deepq_widgets.training.runner import run_task

    spec = general_spec(
        demo_copy, capsys, "single_label", "ultrasound_lesions", "moved", hyper__epochs=2, hyper__early_stop=False, image_size=64
    )
    store = Store(demo_copy.db_path)
    task_id = store.submit(parse_spec(spec))
    run_task(demo_copy, store, store.claim_next(os.getpid()))
    assert store.task(task_id).state == FINISHED
    folder = demo_copy.task_dir(task_id) / "checkpoint"
    info = json.loads((folder / "checkpoint.json").read_text())
    (folder / "checkpoint.json").write_text(json.dumps(info | {"epoch": 0}))  # as if interrupted after the first epoch
    store.set_state(task_id, ERROR, "interrupted")
    next((demo_copy.datasets / "ultrasound_lesions" / "benign").glob("*.png")).unlink()  # the dataset changes meanwhile
    store.requeue(task_id)
    run_task(demo_copy, store, store.claim_next(os.getpid()))
    row = store.task(task_id)
    assert row.state == ERROR and "changed since the checkpoint of epoch 1" in row.error and "start a new task" in row.error
