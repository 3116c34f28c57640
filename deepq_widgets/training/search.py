"""Hyperparameter search with Optuna: grid, random, or population-based trials that compete.

Each trial fine-tunes a fresh model for a short budget and reports its validation loss
every epoch. 'pbt' runs the population with Optuna's successive-halving pruner: weak trials
stop early and the budget goes to the promising ones (it does not copy weights between
trials as DeepMind's PBT does). The best settings then train the full run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import optuna

from ..spec import SearchMethod
from .policy import Plan

GRID = {"lr": [3e-4, 1e-3, 3e-3], "weight_decay": [0.0, 0.01], "batch_size": [16, 32]}


def sampler_for(method: SearchMethod, seed: int) -> tuple[optuna.samplers.BaseSampler, optuna.pruners.BasePruner]:
    if method is SearchMethod.grid:
        return optuna.samplers.GridSampler(GRID, seed=seed), optuna.pruners.NopPruner()
    if method is SearchMethod.random:
        return optuna.samplers.RandomSampler(seed=seed), optuna.pruners.NopPruner()
    return optuna.samplers.TPESampler(seed=seed), optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2)


def suggest(trial: optuna.Trial, grid: bool, n_train: int) -> dict[str, Any]:
    if grid:
        return {name: trial.suggest_categorical(name, values) for name, values in GRID.items()}
    sizes = [b for b in (8, 16, 32) if b <= max(8, n_train // 4)]
    return {
        "lr": trial.suggest_float("lr", 1e-4, 3e-3, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 0.0, 0.05),
        "batch_size": trial.suggest_categorical("batch_size", sizes),
    }


def tune(
    plan: Plan,
    method: SearchMethod,
    trials: int,
    n_train: int,
    seed: int,
    train_trial: Callable[[Plan, Callable[[int, float], bool]], float],
    report: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """Run the study; `train_trial(plan, on_epoch)` returns the best validation loss and calls
    `on_epoch(epoch, loss)`, which says whether to stop the trial early. Returns the best params."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler, pruner = sampler_for(method, seed)
    study = optuna.create_study(direction="minimize", sampler=sampler, pruner=pruner)
    budget = max(2, math.ceil(plan.epochs / 4))

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, method is SearchMethod.grid, n_train)
        trial_plan = Plan(**{**plan.__dict__, **params, "epochs": budget, "early_stop": False, "lr_find_iters": 0, "notes": []})

        def on_epoch(epoch: int, loss: float) -> bool:
            trial.report(loss, epoch)
            return trial.should_prune()

        loss = train_trial(trial_plan, on_epoch)
        pruned = trial.should_prune()
        report({"trial": trial.number, "params": params, "valid_loss": loss, "pruned": pruned})
        if pruned:
            raise optuna.TrialPruned()
        return loss

    study.optimize(objective, n_trials=trials, catch=(RuntimeError,))
    return study.best_params
