"""A k-fold ensemble is one network: the average of its members' probabilities, stored and rebuilt from its card."""

import pytest
import torch

from deepq_widgets import kinds
from deepq_widgets.spec import SpecError, parse_spec
from deepq_widgets.training.ensemble import Ensemble, average_as_logits, members_of


class Fixed(torch.nn.Module):
    """A network that says the same logits whatever the image."""

    def __init__(self, logits: list[float]):
        super().__init__()
        self.register_buffer("logits", torch.tensor(logits))

    def forward(self, x):
        return self.logits.expand(len(x), -1)


def test_softmax_members_average_their_probabilities_not_their_logits():
    members = [Fixed([8.0, 0.0]), Fixed([0.0, 1.0]), Fixed([0.0, 1.0])]
    x = torch.zeros(4, 1, 8, 8)
    probs = Ensemble(members, "softmax")(x).softmax(1)
    expected = torch.stack([m(x).softmax(1) for m in members]).mean(0)
    assert probs == pytest.approx(expected, abs=1e-6)
    assert probs[0, 1] > 0.45  # the mean of logits would let the confident member win: softmax([8/3, 2/3])[1] = 0.12


def test_sigmoid_members_average_each_findings_probability():
    outputs = [torch.tensor([[4.0, -2.0]]), torch.tensor([[-4.0, -2.0]])]
    assert average_as_logits(outputs, "sigmoid").sigmoid() == pytest.approx(torch.tensor([[0.5, torch.tensor(-2.0).sigmoid()]]), abs=1e-6)


def test_an_ensemble_is_stored_under_its_members_keys_and_rebuilt_from_its_card():
    from deepq_widgets.training.checkpoint import load_weights, model_state

    ensemble = Ensemble([Fixed([1.0, 2.0]), Fixed([3.0, 4.0])], "softmax")
    assert sorted(model_state(ensemble)) == ["members.0.logits", "members.1.logits"]
    again = Ensemble([Fixed([0.0, 0.0]), Fixed([0.0, 0.0])], "softmax")
    load_weights(again, model_state(ensemble))
    assert again.members[1].logits.tolist() == [3.0, 4.0] and members_of(again) == list(again.members)
    assert members_of(again.members[0]) == [again.members[0]]
    with pytest.raises(ValueError, match="softmax or sigmoid"):
        Ensemble([Fixed([0.0])], "boxes")


def test_build_network_makes_as_many_members_as_the_card_says():
    from deepq_widgets.contracts import ModelCard
    from deepq_widgets.training.registry import build_network

    card = ModelCard(id="m", name="m", task="single_label", arch="tf_efficientnet_lite0.in1k", classes=["a", "b"], image_size=64,
                     channels=1, members=3, mean=[0.5], std=[0.5])  # fmt: skip
    model = build_network(card)
    assert isinstance(model, Ensemble) and len(model.members) == 3 and model(torch.zeros(2, 1, 64, 64)).shape == (2, 2)
    assert not isinstance(build_network(card.model_copy(update={"members": 1})), Ensemble)


def test_only_kinds_whose_outputs_average_offer_folds_and_never_with_refit():
    for kind in kinds.all_kinds():
        assert kind.ensembles == bool(kind.trainer.ensemble_activation), kind.name
    base = {"name": "t", "dataset": "d", "tuning": "manual", "model": {"arch": "tf_efficientnet_lite0.in1k"}}
    assert parse_spec(base | {"hyper": {"folds": 5}}).hyper.folds == 5
    with pytest.raises(SpecError, match="refit and hyper.folds"):
        parse_spec(base | {"hyper": {"folds": 5, "refit": True}})
    with pytest.raises(SpecError, match="classification tasks, not detection"):
        parse_spec(base | {"task": "detection", "hyper": {"folds": 5}})
    with pytest.raises(SpecError, match="hyper.folds"):
        parse_spec(base | {"hyper": {"folds": 11}})
