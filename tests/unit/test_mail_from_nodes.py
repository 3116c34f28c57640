"""The worker trusts no message from a Ray node: each is checked against its type and against the task whose
mailbox it came from (the review forged a `model` message that replaced another task's model card)."""

import pytest

from deepq_widgets.contracts import EpochEvent, Metrics, ModelCard, StatusEvent
from deepq_widgets.spec import parse_spec
from deepq_widgets.store import Store
from deepq_widgets.training.mail import EventMail, ModelMail, deliver


def spec(name: str):
    return parse_spec({"name": name, "flow": "general", "task": "single_label", "dataset": "any", "tuning": "auto"})


def card(model_id: str, task_id: int, accuracy: float) -> ModelCard:
    return ModelCard(
        id=model_id,
        name=model_id,
        source_task=task_id,
        task="single_label",
        arch="tf_efficientnet_lite0.in1k",
        classes=["a", "b"],
        image_size=64,
        channels=1,
        windows=[],
        mean=[0.5],
        std=[0.5],
        metrics=Metrics(headline={"accuracy": accuracy}),
        dataset="any",
    )


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "tasks.sqlite")
    for name in ("victim", "forger"):
        store.submit(spec(name))
    store.add_model(card("victim-t1", 1, 0.9))
    return store


def test_a_forged_model_card_for_another_task_is_refused_and_said(store):
    forged = [ModelMail(card=card("victim-t1", 1, 0.1)).to_json(), ModelMail(card=card("victim-t1", 2, 0.1)).to_json()]
    assert deliver(store, 2, forged) == 2
    assert [m.metrics.headline["accuracy"] for m in store.models()] == [0.9]  # the victim's card is untouched
    said = [e.message for e in store.events(2, StatusEvent)]
    assert len(said) == 2 and all("Refused a message" in m and "victim-t1" in m for m in said)


def test_malformed_messages_are_refused_and_the_good_ones_still_arrive(store):
    epoch = EpochEvent(epoch=0, train_loss=0.5, valid_loss=0.6, metrics=Metrics(), lr=0.01, seconds=1.0, best=True)
    messages = ["not json", '{"kind": "shell", "command": "rm -rf /"}', EventMail(event=epoch).to_json()]
    assert deliver(store, 2, messages) == 2
    assert [e.epoch for e in store.events(2, EpochEvent)] == [0]
    assert deliver(store, 2, [ModelMail(card=card("forger-t2", 2, 0.7)).to_json()]) == 0  # its own model: registered
    assert {m.id for m in store.models()} == {"victim-t1", "forger-t2"}


def test_the_store_never_lets_one_task_replace_another_tasks_model(store):
    with pytest.raises(ValueError, match="belongs to task 1"):
        store.add_model(card("victim-t1", 2, 0.1))
    store.add_model(card("victim-t1", 1, 0.95))  # its own task (a resumed run) may
    assert store.models()[0].metrics.headline["accuracy"] == 0.95
