"""Hyperparameter search: grid or random trials with Optuna, or population-based training.

Grid and random: each trial fine-tunes a fresh model for a short budget (random stops trials
worse than the median early); the best settings then train the full run.

PBT (Jaderberg et al., 2017): the whole population trains in lockstep, one epoch per round;
after each round the worst quarter copies the weights and optimizer state of a member of the
best quarter and perturbs its learning rate and weight decay. The full run continues from the
winner's weights with the winner's final settings.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna

from ..autoplan import Plan
from ..spec import SearchMethod

optuna.logging.set_verbosity(optuna.logging.WARNING)  # trials are reported as store events instead

GRID = {"lr": [3e-4, 1e-3, 3e-3], "weight_decay": [0.0, 0.01], "batch_size": [16, 32]}


def sampler_for(method: SearchMethod, seed: int) -> tuple[optuna.samplers.BaseSampler, optuna.pruners.BasePruner]:
    """Grid tries every cell; random stops a trial whose loss is worse than the median of earlier ones."""
    if method is SearchMethod.grid:
        return optuna.samplers.GridSampler(GRID, seed=seed), optuna.pruners.NopPruner()
    return optuna.samplers.RandomSampler(seed=seed), optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)


def space(grid: bool, n_train: int) -> dict[str, optuna.distributions.BaseDistribution]:
    """What a trial chooses: the grid's cells, or ranges (batch sizes a quarter of the training cases allow)."""
    if grid:
        return {name: optuna.distributions.CategoricalDistribution(values) for name, values in GRID.items()}
    sizes = [b for b in (8, 16, 32) if b <= max(8, n_train // 4)]
    return {
        "lr": optuna.distributions.FloatDistribution(1e-4, 3e-3, log=True),
        "weight_decay": optuna.distributions.FloatDistribution(0.0, 0.05),
        "batch_size": optuna.distributions.CategoricalDistribution(sizes),
    }


def suggest(trial: optuna.Trial, grid: bool, n_train: int) -> dict[str, Any]:
    chosen = {}
    for name, d in space(grid, n_train).items():
        if isinstance(d, optuna.distributions.FloatDistribution):
            chosen[name] = trial.suggest_float(name, d.low, d.high, log=d.log)
        else:
            chosen[name] = trial.suggest_categorical(name, d.choices)
    return chosen


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
    sampler, pruner = sampler_for(method, seed)
    study = optuna.create_study(direction="minimize", sampler=sampler, pruner=pruner)
    budget = search_epochs(plan)

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, method is SearchMethod.grid, n_train)
        trial_plan = plan.but(**params, epochs=budget, early_stop=False, lr_find_iters=0, notes=[])

        def on_epoch(epoch: int, loss: float) -> bool:
            trial.report(loss, epoch)
            return bool(trial.should_prune())  # the median pruner answers with a numpy bool

        loss = train_trial(trial_plan, on_epoch)
        pruned = bool(trial.should_prune())
        report({"trial": trial.number, "params": params, "valid_loss": loss, "pruned": pruned})
        if pruned:
            raise optuna.TrialPruned()
        return loss

    study.optimize(objective, n_trials=trials, catch=(RuntimeError,))
    return study.best_params


def search_epochs(plan: Plan) -> int:
    """Epochs each trial (or each PBT member) trains: a quarter of the full run, at least 2."""
    return max(2, math.ceil(plan.hyper.epochs / 4))


@dataclass
class Member:
    """One PBT member: its settings now, its trainer state (opaque here) and its last loss."""

    id: int
    params: dict[str, Any]
    state: Any = None
    loss: float = math.inf
    history: list[str] = field(default_factory=list)


PERTURB = (0.8, 1.25)  # explore: multiply a continuous setting by one of these


def winner_plan(plan: Plan, params: dict[str, Any], search: str, rounds: int = 0) -> Plan:
    """The plan for the rest of the run once a search (in-process or on Ray Tune) has its winner: the winner's
    settings; after population-based training, whose members trained `rounds` epochs each, the run goes on from
    the winner's weights for the epochs left. Its note says so, naming the `search`."""
    rest = {"epochs": max(1, plan.hyper.epochs - rounds)} if rounds else {}
    out = plan.but(**params, **rest, lr_find_iters=0, notes=list(plan.notes))
    settings = ", ".join(f"{k} {v:g}" for k, v in params.items())
    goes_on = f"; the run continues from its weights for {out.hyper.epochs} more epochs." if rounds else "."
    out.notes.append(f"{search} chose {settings}{goes_on}")
    return out


def explore(params: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Perturb the learning rate and weight decay; members may drift past the sampled ranges,
    within bounds where fine-tuning stays stable."""
    out = dict(params)
    out["lr"] = min(max(params["lr"] * rng.choice(PERTURB), 1e-5), 1e-2)
    out["weight_decay"] = min(params["weight_decay"] * rng.choice(PERTURB), 0.1)
    return out


def population_based(
    plan: Plan,
    members: int,
    n_train: int,
    seed: int,
    train_member: Callable[[dict[str, Any], Any], tuple[Any, float]],
    report: Callable[[dict[str, Any]], None],
    discard: Callable[[Any], None] = lambda state: None,
) -> Member:
    """PBT. `train_member(params, state)` trains one epoch from `state` (None: fresh weights)
    and returns the new state and the validation loss; it must not modify `state` in place,
    since a state copied to several members is shared. `discard(state)` hears of each state no
    member holds any more (its checkpoint can go: a population keeps one per member, not one per
    member per round). Returns the winner."""
    rng = random.Random(seed)
    sampler = optuna.samplers.RandomSampler(seed=seed)  # the first population, as random search draws it
    study = optuna.create_study(direction="minimize", sampler=sampler)
    population = [Member(i, suggest(study.ask(), False, n_train)) for i in range(members)]
    rounds = search_epochs(plan)
    quarter = max(1, members // 4)
    for round_ in range(rounds):
        held = {id(m.state): m.state for m in population if m.state is not None}
        for m in population:
            m.state, m.loss = train_member(m.params, m.state)
            report({"trial": m.id, "round": round_, "params": m.params, "valid_loss": m.loss, "history": list(m.history)})
        if round_ < rounds - 1 and members > 1:
            ranked = sorted(population, key=lambda m: m.loss)
            for loser in ranked[-quarter:]:
                winner = rng.choice(ranked[:quarter])
                loser.state, loser.params = winner.state, explore(winner.params, rng)
                loser.history.append(f"round {round_}: copied member {winner.id}")
        live = {id(m.state) for m in population}
        for key, state in held.items():
            if key not in live:
                discard(state)
    return min(population, key=lambda m: m.loss)
