"""Small real training runs: real data from the demo workspace, real fastai fits, on the CPU.

Each run goes through `run_task`, the same function the worker calls, with the store as
its only sink. Images are small and epochs few so the whole tier takes minutes.
"""

from __future__ import annotations

import json
import os

import pytest
import torch

from deepq_widgets.cli import main
from deepq_widgets.store import Store


@pytest.fixture(scope="session", autouse=True)
def _threads():
    torch.set_num_threads(min(2, len(os.sched_getaffinity(0))))


def make_spec(ws, capsys, *argv: str, **overrides) -> dict:
    assert main(["spec", "--workspace", str(ws.root), *argv]) == 0, capsys.readouterr().err
    spec = json.loads(capsys.readouterr().out)
    for dotted, value in overrides.items():
        target = spec
        *parents, leaf = dotted.split("__")
        for p in parents:
            target = target[p]
        target[leaf] = value
    return spec


def general_spec(ws, capsys, task: str, dataset: str, name: str, *argv: str, **overrides) -> dict:
    """A General-flow task on the offline tf_efficientnet_lite0 weights."""
    return make_spec(
        ws,
        capsys,
        "--flow",
        "general",
        "--task",
        task,
        "--dataset",
        dataset,
        "--model",
        "tf_efficientnet_lite0.in1k",
        "--name",
        name,
        *argv,
        **overrides,
    )


def spec_json(ws, argv: list[str], name: str = "pe studies") -> dict:
    """`deepq spec` on the offline tf_efficientnet_lite0 weights, for a fixture (no capsys outside a test)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["spec", "--workspace", str(ws.root), "--model", "tf_efficientnet_lite0.in1k", "--name", name, *argv]) == 0
    return json.loads(out.getvalue())


def run_in_process(ws, spec: dict):
    """Submit and run one task here (not in a worker); returns (final task row, store)."""
    from deepq_widgets.spec import parse_spec
    from deepq_widgets.training.runner import run_task

    store = Store(ws.db_path)
    task_id = store.submit(parse_spec(spec))
    task = store.claim_next(os.getpid())
    assert task.id == task_id
    run_task(ws, store, task)
    return store.task(task_id), store
