"""Population-based training, driven by a toy trainer whose best learning rate is known."""

import math

from deepq_widgets.autoplan import Plan
from deepq_widgets.spec import Augmentation, Hyperparameters
from deepq_widgets.training.search import PERTURB, population_based, search_epochs

BEST_LR = 1e-3


def toy_plan(epochs: int = 12) -> Plan:
    return Plan(Hyperparameters(epochs=epochs, batch_size=16, lr=1e-3, weight_decay=0.0, patience=3), Augmentation())


def toy_trainer(calls: list):
    """The 'weights' are the progress made so far: each epoch adds more the closer lr is to BEST_LR."""

    def train_member(params, state):
        calls.append((params, state))
        progress = (state or {"progress": 0.0})["progress"] + 1.0 / (1.0 + abs(math.log10(params["lr"] / BEST_LR)))
        return {"progress": progress}, 1.0 / progress

    return train_member


def test_pbt_trains_every_member_each_round_and_the_worst_copy_the_best():
    calls, reports = [], []
    plan = toy_plan()
    winner = population_based(plan, 8, n_train=100, seed=0, train_member=toy_trainer(calls), report=reports.append)
    rounds = search_epochs(plan)
    assert len(calls) == 8 * rounds and len(reports) == 8 * rounds
    first = {r["trial"]: r for r in reports if r["round"] == 0}
    ranked = sorted(first.values(), key=lambda r: r["valid_loss"])
    best_ids = {r["trial"] for r in ranked[:2]}
    for loser in ranked[-2:]:  # the worst quarter inherits a best-quarter member's state, then explores
        after = next(r for r in reports if r["round"] == 1 and r["trial"] == loser["trial"])
        (source,) = [int(h.split()[-1]) for h in after["history"]]
        assert source in best_ids
        ratio = after["params"]["lr"] / first[source]["params"]["lr"]
        assert any(math.isclose(ratio, f) for f in PERTURB), ratio
        inherited = calls[8 + loser["trial"]][1]  # round 1 starts from the source's round-0 weights
        assert math.isclose(1.0 / inherited["progress"], first[source]["valid_loss"])
    assert winner.loss == min(r["valid_loss"] for r in reports if r["round"] == rounds - 1)


def test_states_no_member_holds_are_discarded_each_round():
    """A population keeps one checkpoint per member, not one per member per round."""
    calls, discarded = [], []
    plan = toy_plan()
    winner = population_based(plan, 8, 100, 0, toy_trainer(calls), lambda _: None, discard=discarded.append)
    started_from = {id(state) for _, state in calls if state is not None}  # every state a round started from
    assert sorted(id(s) for s in discarded) == sorted(started_from)  # each discarded once, after its last use
    assert id(winner.state) not in started_from  # the final states are kept


def test_a_single_member_just_trains():
    calls = []
    winner = population_based(toy_plan(4), 1, 100, 0, toy_trainer(calls), lambda _: None)
    assert winner.id == 0 and len(calls) == search_epochs(toy_plan(4)) and winner.history == []


def test_plan_round_trips_through_its_event_form():
    plan = toy_plan()
    event = plan.to_dict() | {"device": "cpu", "arch": "resnet18"}
    assert Plan.from_dict(event) == plan
