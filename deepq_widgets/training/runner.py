"""Run one task from its TaskSpec, in stages: prepare data -> plan -> build learner -> fit -> evaluate and register.

Called by the worker process, never by the notebook kernel. Every outcome lands in the store:
Finished (with a registered model), Stopped, or Error with the message and traceback. Resume
continues from the last epoch checkpoint with the optimizer state. A task on several devices
trains its fit and refit together with its other ranks (distributed.py, rank.py); this process,
rank 0, does everything else.
"""

from __future__ import annotations

import traceback

from ..store import ERROR, FINISHED, STOPPED, Store, TaskRow
from ..workspace import Workspace
from .distributed import ranks
from .planning import plan_run
from .stages import Factory, Run, TaskFailed, TaskStopped, build, evaluate_best, finish, prepare_data, refit, train


def run_task(workspace: Workspace, store: Store, task: TaskRow) -> str:
    """Run `task` to its end and record the outcome; returns the final state."""
    try:
        run_stages(workspace, store, task)
        state = FINISHED
    except TaskStopped:
        state = STOPPED
    except TaskFailed as exc:
        store.set_state(task.id, ERROR, error=str(exc), traceback=traceback.format_exc())
        return ERROR
    except Exception as exc:  # any failure must reach the user with its traceback
        store.set_state(task.id, ERROR, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        return ERROR
    store.set_state(task.id, state)
    return state


def run_stages(workspace: Workspace, store: Store, task: TaskRow) -> None:
    run = Run.start(workspace, store, task)
    prepared = prepare_data(run)
    factory = Factory(run, prepared)
    plan = plan_run(run, factory)
    built = build(run, factory, plan)
    with ranks(workspace.root, task.id, run.folder, plan.devices, run.device):  # one device: nothing to start
        fitted = train(run, built, prepared.data.classes)
        final = refit(run, factory, built)
    evaluation = evaluate_best(run, prepared, built, fitted)
    finish(run, prepared, built, fitted, evaluation, final)
