"""A registered model as the pretraining source of a task of another kind: listed beside ImageNet for its network
(the zoo browser's pretraining choices), its backbone (not its head) taken from wherever its kind keeps it, and a
real segmentation run started from a classifier's backbone, the source named in its model card."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from deepq_widgets.evaluations import read_card
from deepq_widgets.paper_card import card_files
from deepq_widgets.store import Store
from deepq_widgets.training.backbones import create_model
from deepq_widgets.zoo import pretrain_sources

from .conftest import run_in_process, spec_json

pytestmark = pytest.mark.slow
ARCH = "tf_efficientnet_lite0.in1k"
SMALL = ["--flow", "general", "--tuning", "manual", "--image-size", "32", "--epochs", "1", "--batch-size", "8"]


def test_a_classifiers_backbone_starts_a_segmentation_task(demo_copy):
    ws = demo_copy
    row, _ = run_in_process(ws, spec_json(ws, [*SMALL, "--task", "single_label", "--dataset", "ultrasound_lesions"], "lesion calls"))
    assert row.state == "finished", row.error
    source = f"model:{row.model_id}"
    assert pretrain_sources(ARCH, ws)[source] == "my model lesion calls (single_label on ultrasound_lesions)"

    trained = load_file(str(ws.model_dir(row.model_id) / "model.safetensors"))
    encoder = create_model(ARCH, 0, in_chans=3, pretrain=source, workspace=ws, features_only=True)  # another kind's body
    grey = read_card(ws, row.model_id).channels
    stem = trained["conv_stem.weight"]
    assert grey == 1 and torch.allclose(encoder.state_dict()["conv_stem.weight"], stem.repeat(1, 3, 1, 1) / 3)  # one channel, spread
    assert torch.equal(encoder.state_dict()["blocks.6.0.conv_pwl.weight"], trained["blocks.6.0.conv_pwl.weight"])  # the deepest block

    organs = spec_json(ws, [*SMALL, "--task", "segmentation", "--dataset", "abdomen_organs", "--pretrain", source], "organs from lesions")
    seg, _ = run_in_process(ws, organs)
    assert seg.state == "finished", seg.error
    started = Store(ws.db_path)
    assert read_card(ws, seg.model_id).spec.model.pretrain == source  # the provenance, in the task file as run
    markdown, _ = card_files(ws, started, read_card(ws, seg.model_id))
    assert f"the backbone of this workspace's model {row.model_id}" in markdown
