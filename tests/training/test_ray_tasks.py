"""Tasks on a real local Ray (2 CPUs): the worker started with $DEEPQ_RAY_ADDRESS, as the dashboard starts
it, runs two tasks at once, carries their events into the store, stops one on request, and a task whose
Ray worker process is killed ends as Error and resumes to the end."""

import os
import re
import signal
import subprocess
import sys

import pytest

from deepq_widgets.contracts import EpochEvent, ModelEvent, PlanEvent, SearchTrialEvent, StatusEvent
from deepq_widgets.spec import Search
from deepq_widgets.store import ERROR, FINISHED, RUNNING, STOPPED, Store
from deepq_widgets.tasks import resume, stop, submit, worker_alive
from tests.training.test_worker import plant_modules, tiny_spec, wait_for

pytestmark = pytest.mark.slow
try:
    import ray  # noqa: F401 - an optional extra (pip install 'deepq_widgets[ray]'), in the test extras
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("Ray is not installed: pip install 'deepq_widgets[ray]'", allow_module_level=True)


@pytest.fixture(autouse=True)
def on_local_ray(monkeypatch):
    monkeypatch.setenv("DEEPQ_RAY_ADDRESS", "local")
    monkeypatch.setenv("DEEPQ_THREADS", "1")  # two 1-thread tasks at once on the 2 CPUs Ray is given
    monkeypatch.setenv("DEEPQ_WORKER_IDLE", "60")


def node_process(store: Store, task_id: int) -> int:
    """The pid of the Ray worker process running the task, as the task says it."""
    said = [e.message for e in store.events(task_id, StatusEvent) if "Running on Ray node" in e.message]
    return int(re.search(r"process (\d+)", said[0]).group(1))


@pytest.mark.two_at_once
def test_tasks_run_on_ray_stop_and_resume_after_their_process_dies(demo_copy, capsys):
    marker = plant_modules(demo_copy)  # Ray puts the driver's working directory on its workers' sys.path
    store = Store(demo_copy.db_path)
    first = submit(demo_copy, tiny_spec(demo_copy, capsys, "ray first", 2))
    second = submit(demo_copy, tiny_spec(demo_copy, capsys, "ray second", 2))
    wait_for(lambda: all(store.task(t).state in (FINISHED, ERROR) for t in (first, second)), timeout=300)
    a, b = store.task(first), store.task(second)
    assert a.state == b.state == FINISHED, (a.error, b.error)
    assert b.started < a.ended and a.started < b.ended  # side by side, one per slot
    for row in (a, b):
        assert row.model_id and (demo_copy.model_dir(row.model_id) / "model.safetensors").is_file()
        assert [e.epoch for e in store.events(row.id, EpochEvent)] == [0, 1]  # carried from the node into the store
        assert store.events(row.id, PlanEvent) and node_process(store, row.id) != store.task(row.id).worker_pid
    decoding = [e.message for t in (first, second) for e in store.events(t, StatusEvent) if e.message.startswith("Decoding")]
    assert decoding and all(m.endswith("(1 decoding process)") for m in decoding)  # the task's thread budget, not every core
    assert {m.id for m in store.models()} >= {a.model_id, b.model_id}
    assert_refuses_a_client_without_the_token()

    stopped = submit(demo_copy, tiny_spec(demo_copy, capsys, "ray stopped", 200))
    wait_for(lambda: store.task(stopped).epoch >= 1, timeout=300)
    stop(demo_copy, stopped)
    wait_for(lambda: store.task(stopped).state != RUNNING, timeout=120)
    assert store.task(stopped).state == STOPPED and store.task(stopped).epoch < 200

    killed = submit(demo_copy, tiny_spec(demo_copy, capsys, "ray killed", 5))
    wait_for(lambda: len(store.events(killed, EpochEvent)) >= 2, timeout=300)
    os.kill(node_process(store, killed), signal.SIGKILL)
    wait_for(lambda: store.task(killed).state != RUNNING, timeout=120)
    row = store.task(killed)
    assert row.state == ERROR and f"deepq resume {killed}" in row.error and "Ray task ended unexpectedly" in row.error
    done_before = {e.epoch for e in store.events(killed, EpochEvent)}
    resume(demo_copy, killed)  # the worker is still serving (or is started again)
    wait_for(lambda: store.task(killed).state in (FINISHED, ERROR), timeout=300)
    assert store.task(killed).state == FINISHED, store.task(killed).error
    after = [e.epoch for e in store.events(killed, EpochEvent)][len(done_before) :]
    assert after and min(after) > min(done_before) and max(after) == 4  # continued from the checkpoint
    assert_a_lost_mailbox_ends_its_own_task_alone(demo_copy, capsys, store)
    assert worker_alive(demo_copy)
    for worker in store.workers():
        os.kill(worker["pid"], signal.SIGTERM)
    wait_for(lambda: not worker_alive(demo_copy), timeout=60)
    assert not marker.exists(), f"a Ray worker ran code from the workspace: {marker.read_text()}"


def assert_a_lost_mailbox_ends_its_own_task_alone(ws, capsys, store: Store) -> None:
    """Of two tasks running side by side, the one whose mailbox actor dies (as with the node that held it) ends
    as Error, resumable; the other finishes, and the worker goes on."""
    import psutil

    pair = [submit(ws, tiny_spec(ws, capsys, f"ray mailbox {n}", 12)) for n in (1, 2)]  # long enough to be cut short
    wait_for(lambda: all(store.events(t, EpochEvent) for t in pair), timeout=300)

    def mailboxes() -> list:  # the two running tasks' (the ended tasks' actors go with their handles)
        found = [p for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [""])[0].startswith("ray::Mailbox")]
        return found if len(found) == 2 else None

    found = wait_for(mailboxes, timeout=60)
    found[0].kill()
    wait_for(lambda: all(store.task(t).state in (FINISHED, ERROR) for t in pair), timeout=300)
    states = sorted((store.task(t).state, store.task(t).error or "") for t in pair)
    assert [s for s, _ in states] == [ERROR, FINISHED], states
    assert "mailbox on the Ray cluster was lost" in states[0][1] and "deepq resume" in states[0][1]


def assert_refuses_a_client_without_the_token() -> None:
    """The worker's Ray (started with `--ray local`) authenticates: a process that does not send its token,
    as any other user or host would, cannot join it and run code there."""
    code = "import ray; ray.init(address='auto', log_to_driver=False); print('joined')"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    outsider = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert outsider.returncode != 0 and "joined" not in outsider.stdout, outsider.stdout
    assert "token" in outsider.stderr.lower() or "Failed to connect" in outsider.stderr, outsider.stderr[-2000:]


def stop_each_after(ws, store: Store, reports: dict[int, int]) -> bool:
    """Stop each task as soon as it has its number of search trial reports; True once all are stopped."""
    for task_id, wanted in list(reports.items()):
        if len(store.events(task_id, SearchTrialEvent)) >= wanted:
            stop(ws, task_id)
            del reports[task_id]
    return not reports


def test_searches_run_their_trials_on_ray_tune_and_the_winner_trains(demo_copy, capsys):
    marker = plant_modules(demo_copy)
    store = Store(demo_copy.db_path)
    searches = {}
    for method, epochs, trials in (("random", 4, 3), ("pbt", 9, 4)):  # PBT: 3 rounds of 1 epoch, then 6 epochs from the winner
        spec = tiny_spec(demo_copy, capsys, f"ray {method}", epochs).model_copy(update={"search": Search(method=method, trials=trials)})
        searches[method] = submit(demo_copy, spec)
    # Each stopped part-way (random after one trial, PBT after its first round), then resumed: each goes on.
    waiting = {searches["random"]: 1, searches["pbt"]: 4}
    wait_for(lambda: stop_each_after(demo_copy, store, waiting), timeout=300, every=0.1)
    for task_id in searches.values():
        wait_for(lambda task_id=task_id: store.task(task_id).state == STOPPED, timeout=120)
        resume(demo_copy, task_id)
    wait_for(lambda: all(store.task(t).state in (FINISHED, ERROR) for t in searches.values()), timeout=600)
    said = {m: " ".join(e.message for e in store.events(t, StatusEvent)) for m, t in searches.items()}
    assert "trials run before it was interrupted" in said["random"]
    assert re.search(r"going on from round \d, each member from its checkpoint", said["pbt"]), (
        said["pbt"],
        store.task(searches["pbt"]).error,
    )
    for method, task_id in searches.items():
        row = store.task(task_id)
        assert row.state == FINISHED, row.error
        trials = store.events(task_id, SearchTrialEvent)
        plan = store.events(task_id, PlanEvent)[-1].plan
        if method == "random":
            assert sorted(t.trial for t in trials) == [0, 1, 2]  # every trial once, as in-process: none run twice
            assert any("Search on Ray Tune (random, 3 trials) chose" in n for n in plan.notes)
            best = min(trials, key=lambda t: t.valid_loss)
            assert (
                plan.hyper.lr == pytest.approx(best.params["lr"]) and plan.hyper.batch_size == best.params["batch_size"]
            )  # the winner trains
        else:
            assert {(t.trial, t.round) for t in trials} == {(m, r) for m in range(4) for r in (0, 1, 2)}  # 4 members, 3 rounds
            assert any("Population-based training on Ray Tune (4 members" in n for n in plan.notes)
            assert plan.hyper.epochs == 6  # the run continues from the winner for the epochs left
            assert "population-based search's winner" in store.events(task_id, ModelEvent)[-1].source
        assert row.model_id and [e.epoch for e in store.events(task_id, EpochEvent)] == list(range(plan.hyper.epochs))
    assert not marker.exists(), f"a Tune trial ran code from the workspace: {marker.read_text()}"
    assert_a_killed_worker_leaves_no_ray_process(store)


def assert_a_killed_worker_leaves_no_ray_process(store: Store) -> None:
    """SIGKILL runs no clean-up in the worker, and Ray's agents ignore SIGTERM: the reaper ends them."""
    import psutil

    workers = [psutil.Process(w["pid"]) for w in store.workers()]
    started = [p for w in workers for p in w.children(recursive=True) if "ray_reaper" not in " ".join(p.cmdline())]
    assert any("raylet" in " ".join(p.cmdline()) for p in started)  # Ray of its own (`--ray local`)
    for worker in workers:
        worker.kill()
    _, alive = psutil.wait_procs(started, timeout=30)
    assert not alive, [p.cmdline()[:2] for p in alive]


def test_a_resumed_grid_search_runs_only_the_cells_left():
    from deepq_widgets.training.search import GRID
    from deepq_widgets.training.tune_search import grid_config

    ran = [
        SearchTrialEvent(trial=i, params={"lr": 1e-3, "weight_decay": wd, "batch_size": 16}, valid_loss=0.5)
        for i, wd in enumerate((0.0, 0.01))
    ]
    _, config = grid_config(12, 0, ran)
    left = config.search_alg._points_to_evaluate
    cells = {(c["lr"], c["weight_decay"], c["batch_size"]) for c in left}
    assert config.num_samples == len(left) == 10 == len(cells) and len(GRID["lr"]) * 2 * 2 == 12
    assert (1e-3, 0.0, 16) not in cells and (1e-3, 0.01, 16) not in cells  # those ran before the interruption
