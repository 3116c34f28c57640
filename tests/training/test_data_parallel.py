"""One task on two CPU processes (gloo), as on two GPUs: it trains as one process does, only rank 0
writes, and a stopped two-rank task resumes from its checkpoint. BatchNorm across ranks is checked
against torch's own on the whole batch, with two real processes."""

import os
import subprocess
import sys
import textwrap
import threading

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from deepq_widgets.contracts import EpochEvent, PlanEvent, StatusEvent
from deepq_widgets.spec import parse_spec
from deepq_widgets.store import FINISHED, STOPPED, Store
from deepq_widgets.tasks import resume
from deepq_widgets.training.runner import run_task
from tests.training.conftest import general_spec, run_in_process
from tests.training.test_worker import plant_modules

pytestmark = pytest.mark.slow

TINY = {"image_size": 64, "hyper__batch_size": 16, "hyper__early_stop": False, "hyper__valid_pct": 20}
# Dropout draws its masks per process (8 images on each rank, 16 in one process): the rest is the same
# computation, so the curves agree to this much, not to the bit. (Measured: 0.02 at most over 3 epochs.)
LOSS_TOLERANCE = 0.05


@pytest.fixture(autouse=True)
def two_threads():
    """Two ranks on this machine's two cores: one thread each (devices_for counts the threads)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def spec(ws, capsys, name: str, devices: int, epochs: int) -> dict:
    return general_spec(ws, capsys, "single_label", "ultrasound_lesions", name, devices=devices, hyper__epochs=epochs, **TINY)


def test_two_ranks_train_as_one_process_does_and_only_rank_0_writes(demo_copy, capsys):
    marker = plant_modules(demo_copy)  # rank 1 starts in the task's folder of the workspace: nothing there is imported
    one, store = run_in_process(demo_copy, spec(demo_copy, capsys, "one", 1, 3))
    two, _ = run_in_process(demo_copy, spec(demo_copy, capsys, "two", 2, 3))
    assert one.state == two.state == FINISHED, (one.error, two.error)
    plan = store.events(two.id, PlanEvent)[-1].plan
    assert plan.devices == 2 and any("data parallel on 2 CPU processes (gloo)" in n for n in plan.notes)
    assert store.events(one.id, PlanEvent)[-1].plan.devices == 1
    alone, together = store.events(one.id, EpochEvent), store.events(two.id, EpochEvent)
    assert [e.epoch for e in together] == [0, 1, 2]  # one event per epoch: rank 1 wrote none
    for a, b in zip(alone, together, strict=True):
        assert abs(a.train_loss - b.train_loss) < LOSS_TOLERANCE, (a, b)
        assert abs(a.valid_loss - b.valid_loss) < LOSS_TOLERANCE, (a, b)
    assert together[-1].valid_loss < together[0].valid_loss  # it learned
    assert (demo_copy.task_dir(two.id) / "rank1.log").is_file() and two.model_id
    assert not marker.exists(), f"a rank ran code from the workspace: {marker.read_text()}"


def test_a_stopped_two_rank_task_resumes_from_its_checkpoint(demo_copy, capsys):
    store = Store(demo_copy.db_path)
    task_id = store.submit(parse_spec(spec(demo_copy, capsys, "stop and resume", 2, 4)))
    watcher = Store(demo_copy.db_path)
    done = threading.Event()

    def stop_after_first_epoch() -> None:
        while not done.wait(0.2):
            if watcher.events(task_id, EpochEvent):
                watcher.request_stop(task_id)
                return

    threading.Thread(target=stop_after_first_epoch, daemon=True).start()
    try:
        assert run_task(demo_copy, store, store.claim_next(os.getpid())) == STOPPED
    finally:
        done.set()
    before = [e.epoch for e in store.events(task_id, EpochEvent)]
    assert before and max(before) < 3  # both ranks stopped together, before the end
    resume(demo_copy, task_id, start_worker=False)
    assert run_task(demo_copy, store, store.claim_next(os.getpid())) == FINISHED, store.task(task_id).error
    after = [e.epoch for e in store.events(task_id, EpochEvent)][len(before) :]
    assert after == list(range(max(before) + 1, 4))  # continued from the checkpoint, not restarted
    assert any("Resumed from the checkpoint" in e.message for e in store.events(task_id, StatusEvent))


def test_a_two_rank_task_trains_every_ensemble_member_together(demo_copy, capsys):
    from deepq_widgets.training.registry import load_model

    ensemble = spec(demo_copy, capsys, "two-rank ensemble", 2, 2)
    ensemble["hyper"] |= {"folds": 2}
    row, store = run_in_process(demo_copy, ensemble)
    assert row.state == FINISHED, f"{row.error}\n{row.traceback}"
    said = [e.message for e in store.events(row.id, StatusEvent) if e.message.startswith("Ensemble member")]
    assert len(said) == 1 and said[0].startswith("Ensemble member 2 of 2")  # rank 1 trained it too, and said nothing
    assert load_model(demo_copy, row.model_id)[1].members == 2
    # rank 1 took its share of every batch of the member's fit: rank 0's gradient all-reduce waits for it
    assert (demo_copy.task_dir(row.id) / "rank1.log").is_file()


RANK = textwrap.dedent(
    """
    import sys, torch
    from safetensors.torch import save_file
    from deepq_widgets.training import distributed
    from deepq_widgets.training.distributed import batch_norm_across_ranks
    rank, rendezvous, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    distributed.join(rank, 2, rendezvous, torch.device("cpu"))
    torch.manual_seed(0)
    x = (torch.randn(6, 3, 5, 5) * 4 + 7)[rank * 2 : rank * 2 + 2 + 2 * rank].requires_grad_()  # 2 and 4 images
    weight, bias = torch.rand(3, requires_grad=True), torch.rand(3, requires_grad=True)
    mean, var = torch.zeros(3), torch.ones(3)
    y = batch_norm_across_ranks(x, mean, var, weight, bias, True, 0.1, 1e-5)
    (y * torch.arange(y.numel()).view_as(y).sin()).sum().backward()
    save_file({"y": y.detach(), "dx": x.grad, "dw": weight.grad, "mean": mean, "var": var}, out)
    distributed.leave()
    """
)


def test_batch_norm_across_two_ranks_is_batch_norm_of_the_whole_batch(tmp_path):
    rendezvous = str(tmp_path / "rendezvous")
    ranks = [subprocess.Popen([sys.executable, "-c", RANK, str(r), rendezvous, str(tmp_path / f"{r}.safetensors")]) for r in (0, 1)]
    assert [p.wait(timeout=120) for p in ranks] == [0, 0]
    got = [load_file(str(tmp_path / f"{r}.safetensors")) for r in (0, 1)]

    torch.manual_seed(0)
    whole = (torch.randn(6, 3, 5, 5) * 4 + 7).requires_grad_()
    weight, bias = torch.rand(3, requires_grad=True), torch.rand(3, requires_grad=True)
    mean, var = torch.zeros(3), torch.ones(3)
    y = F.batch_norm(whole, mean, var, weight, bias, True, 0.1, 1e-5)
    shares = [y[0:2], y[2:6]]
    for share in shares:  # each rank's own loss, as in the script: summed, they are the loss of the whole batch
        (share * torch.arange(share.numel()).view_as(share).sin()).sum().backward(retain_graph=True)
    for r, share in enumerate(shares):
        torch.testing.assert_close(got[r]["y"], share.detach(), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(got[r]["mean"], mean)
        torch.testing.assert_close(got[r]["var"], var)
    torch.testing.assert_close(torch.cat([got[0]["dx"], got[1]["dx"]]), whole.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[0]["dw"] + got[1]["dw"], weight.grad, atol=1e-5, rtol=1e-5)


HELD = textwrap.dedent(
    """
    import sys, time, torch
    from pathlib import Path
    from deepq_widgets.training import distributed
    rank, rendezvous, release = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    distributed.join(rank, 2, rendezvous, torch.device("cpu"))
    total = torch.ones(1)
    torch.distributed.all_reduce(total)
    print(int(total.item()), flush=True)
    while not release.exists():
        time.sleep(0.1)
    distributed.leave()
    """
)


def test_no_process_of_another_user_or_host_can_join_the_ranks(tmp_path):
    """The review's attack: a local process joined the open TCP rendezvous as rank 1 first, and received the
    weights. The ranks now meet through a file in a folder of mode 0700, and listen on loopback alone."""
    import ipaddress
    import stat

    import psutil

    from deepq_widgets.training.distributed import private_rendezvous

    rendezvous, release = private_rendezvous(), tmp_path / "release"
    assert stat.S_IMODE(rendezvous.parent.stat().st_mode) == 0o700
    ranks = [
        subprocess.Popen([sys.executable, "-c", HELD, str(r), str(rendezvous), str(release)], stdout=subprocess.PIPE, text=True)
        for r in (0, 1)
    ]
    try:
        assert [p.stdout.readline().strip() for p in ranks] == ["2", "2"]  # the two ranks, and no one else, summed
        listening = [c.laddr for p in ranks for c in psutil.Process(p.pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        assert all(ipaddress.ip_address(a.ip).is_loopback for a in listening), listening
        if os.geteuid() == 0:  # as another user, the folder cannot even be listed
            child = os.fork()
            if child == 0:
                code = 1
                try:
                    os.setgid(65534)
                    os.setuid(65534)
                    os.listdir(rendezvous.parent)
                except PermissionError:
                    code = 0
                finally:
                    os._exit(code)
            assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
    finally:
        release.touch()
        assert [p.wait(timeout=60) for p in ranks] == [0, 0]
