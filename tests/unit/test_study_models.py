"""How a study's call is made: the Auto rule between multiple-instance learning and 2.5D, the 2.5D loss, and a
2.5D network's widened stem, which must rebuild from its weights alone."""

from __future__ import annotations

import torch

from deepq_widgets.autoplan import Fingerprint, study_plan
from deepq_widgets.kinds.study_label.training import StudyNet, _stem, negative_index, neighbours_of, study_loss, validation_loss
from deepq_widgets.spec import Modality, StudyModel
from deepq_widgets.training.backbones import create_model


def fingerprint(labelled: int) -> Fingerprint:
    return Fingerprint(
        40, 2, {"PE": 20, "normal": 20}, native_side=160, aspect=1.0, channels=1, modality=Modality.ct,
        slices=40 * 24, median_slices=24, slice_labelled=labelled,
    )  # fmt: skip


def test_auto_plans_attention_mil_and_says_why_not_2_5d_when_slices_are_labelled():
    """The rule the studies benchmark supports so far (benchmarks/README.md, "Studies")."""
    notes: list[str] = []
    plan = study_plan(fingerprint(40), 32, 8, notes)
    assert plan["study_model"] is StudyModel.attention and plan["slices"] == 16 and plan["batch_size"] == 4
    assert "40 studies carry slice labels" in notes[-1] and "tied this one in the studies benchmark" in notes[-1]
    assert study_plan(fingerprint(0), 32, 8, notes)["study_model"] is StudyModel.attention and "slice labels" not in notes[-1]


def test_the_2_5d_loss_counts_every_slice_of_a_normal_study_as_normal():
    background = torch.tensor(1)  # classes [PE, normal]
    study = torch.zeros(2, 2)
    slices = torch.zeros(2, 3, 2)
    slices[0, :, 0] = 5.0  # every slice of study 0 says PE
    y = torch.tensor([1, 0])  # study 0 is normal, study 1 shows PE
    unlabelled = torch.full((2, 3), -1)
    plain = torch.nn.functional.cross_entropy(study, y)
    loss = study_loss((study, slices, background), y, unlabelled)
    assert loss > plain + 1.0  # study 0's slices were taken as normal and are wrong
    only_pe_study = study_loss((study, slices, background), torch.tensor([0, 0]), unlabelled)
    torch.testing.assert_close(only_pe_study, torch.nn.functional.cross_entropy(study, torch.tensor([0, 0])))  # nothing known
    assert negative_index(["PE", "normal"]) == 1 and negative_index(["left", "right"]) == -1


def test_2_5d_validation_scores_the_labelled_slices_alone():
    background = torch.tensor(1)
    study = torch.tensor([[9.0, -9.0], [0.0, 0.0]])  # a study call that swings: confidently PE on a normal study
    slices = torch.zeros(2, 3, 2)
    y = torch.tensor([1, 0])
    slice_y = torch.tensor([[-1, -1, -1], [0, 1, -1]])  # study 1 read on two slices; study 0 normal, so all normal
    cross_entropy = torch.nn.functional.cross_entropy
    only_slices = validation_loss((study, slices, background), y, slice_y)
    torch.testing.assert_close(only_slices, cross_entropy(torch.zeros(5, 2), torch.tensor([1, 1, 1, 0, 1])))
    assert study_loss((study, slices, background), y, slice_y) > only_slices + 5  # training adds the study term
    nothing_known = validation_loss((study, slices, torch.tensor(-1)), y, torch.full((2, 3), -1))
    torch.testing.assert_close(nothing_known, cross_entropy(study, y))  # then the study's is all there is
    torch.testing.assert_close(validation_loss(study, y), cross_entropy(study, y))  # MIL: the study's


def test_2_5d_keeps_its_last_weights_and_says_why_where_attention_keeps_its_best():
    from types import SimpleNamespace

    from deepq_widgets.autoplan import make_plan
    from deepq_widgets.spec import TaskSpec, Tuning
    from deepq_widgets.training.callbacks import KeepBest

    def planned(study_model: str):
        hyper = {"study_model": study_model}
        spec = TaskSpec(name="t", task="study_label", dataset="d", tuning=Tuning.manual, model={"arch": "resnet18"}, hyper=hyper)
        return make_plan(spec, fingerprint(40))

    context, attention = planned("context"), planned("attention")
    assert not context.hyper.early_stop and context.hyper.last_weights and "2.5D keeps its last epoch's weights" in context.notes[-1]
    assert attention.hyper.early_stop and not attention.hyper.last_weights and not any("last epoch" in n for n in attention.notes)
    kept = {}
    for last in (False, True):
        keep = KeepBest(last=last)
        for epoch, loss in enumerate((0.3, 0.7, 0.4)):  # lowest at the first epoch, as 2.5D's slice loss was
            model = torch.nn.Linear(1, 1)
            torch.nn.init.constant_(model.weight, float(epoch))
            keep.learn = SimpleNamespace(epoch=epoch, model=model, loss_means=SimpleNamespace(mean=lambda _, v=loss: v))
            keep.after_epoch()
        kept[last] = float(keep.state["weight"])
    assert kept == {False: 0.0, True: 2.0}


def test_neighbours_are_held_at_the_ends_of_the_study():
    x = torch.arange(4.0).view(1, 4, 1, 1, 1)
    assert neighbours_of(x, 1)[0, :, :, 0, 0, 0].tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 3]]


def test_a_widened_stem_answers_a_repeated_slice_as_the_2d_network_and_rebuilds_from_its_weights():
    torch.manual_seed(0)
    net = StudyNet(create_model("resnet18", num_classes=0, in_chans=1, pretrain="none"), 2).eval()
    study = torch.rand(1, 5, 1, 32, 32)
    flat = torch.rand(1, 5, 1, 32, 32).expand(1, 5, 1, 32, 32).clone()
    flat[:] = flat[:, :1]  # every slice the same: its neighbours repeat it
    before = net.slice_features(flat)
    net.read_in_context(1)
    assert _stem(net.encoder).in_channels == 3 and int(net.context) == 1
    torch.testing.assert_close(net.slice_features(flat), before, rtol=1e-4, atol=1e-5)

    fresh = StudyNet(create_model("resnet18", num_classes=0, in_chans=1, pretrain="none"), 2).eval()
    fresh.load_state_dict(net.state_dict())
    assert _stem(fresh.encoder).in_channels == 3
    torch.testing.assert_close(fresh(study), net(study))

    net.background.fill_(1)
    assert isinstance(net(study), torch.Tensor)  # outside a fit: the study's logits, for predict and export
    net.slice_outputs = True  # while fitting (SliceLogitsWhileFitting): every slice's too, for the loss
    called, slices, background = net(study)
    assert slices.shape == (1, 5, 2) and int(background) == 1
    torch.testing.assert_close(called[0], slices[0, slices[0].softmax(-1)[:, 1].argmin()])  # the least normal slice
