"""The model zoo: catalog, offline weights, pretraining sources and Auto select."""

import time

import pytest
import torch

from deepq_widgets import kinds, zoo
from deepq_widgets.spec import Modality
from deepq_widgets.training.backbones import create_model

FAMILIES = {
    "ResNet",
    "ResNeXt",
    "DenseNet",
    "EfficientNet",
    "MobileNet",
    "ConvNeXt",
    "Inception",
    "SENet",
    "RegNet",
    "VGG",
    "Swin",
    "ViT",
    "DeiT",
    "EfficientNetV2",
}


def test_catalog_is_large_and_covers_the_families():
    entries = zoo.catalog()
    assert len(entries) >= 200
    assert {e.family for e in entries.values()} >= FAMILIES
    lite0 = entries["tf_efficientnet_lite0.in1k"]
    assert (lite0.params_m, lite0.top1, lite0.input_size, lite0.license) == (4.652, 74.83, 224, "apache-2.0")
    assert [k.name for k in kinds.all_kinds() if k.fits_network(lite0)] == kinds.names()  # every kind
    vit = entries["vit_base_patch16_224.augreg_in1k"]
    assert not kinds.get("detection").fits_network(vit)  # a single-scale backbone cannot feed an FPN
    assert sum(e.top1 is not None for e in entries.values()) > 150


def test_unknown_names_suggest_close_matches():
    with pytest.raises(zoo.UnknownModel, match="did you mean .*resnet50"):
        zoo.get("resnet05.a1_in1k")
    assert zoo.get("convnext_tiny").arch == "convnext_tiny"  # a bare arch gives its first tag


def test_query_filters():
    assert all(e.family == "Swin" for e in zoo.query(family="swin"))
    assert all(e.multiscale for e in zoo.query(fits=kinds.get("detection").fits_network))
    assert {e.name for e in zoo.query(text="lite0 in1k")} == {"tf_efficientnet_lite0.in1k", "efficientnet_lite0.ra_in1k"}
    offline = {e.name for e in zoo.offline_entries(zoo.query())}
    assert {"tf_efficientnet_lite0.in1k", "tf_efficientnet_lite1.in1k", "tf_efficientnet_lite2.in1k"} <= offline


def test_query_over_the_full_catalog_is_fast():
    zoo.query()
    start = time.perf_counter()
    for _ in range(10):
        zoo.query(fits=kinds.get("segmentation").fits_network, text="res")
    assert (time.perf_counter() - start) / 10 < 0.05


@pytest.mark.parametrize("name", list(zoo.PACKAGE_WEIGHTS))
def test_package_weights_map_one_to_one_onto_timm(name, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPQ_CACHE_DIR", str(tmp_path))
    state = zoo.load_pretrained_state(name)
    import timm

    ref = timm.create_model(zoo.get(name).arch, pretrained=False).state_dict()
    assert set(state) == {k for k in ref if not k.endswith("num_batches_tracked")}
    assert all(state[k].shape == ref[k].shape for k in state)
    assert (tmp_path / "weights" / f"{name}.safetensors").is_file()


def test_lite0_through_the_zoo_is_a_real_imagenet_classifier():
    from skimage import data

    model = create_model("tf_efficientnet_lite0.in1k", num_classes=1000).eval()
    img = torch.tensor(data.coffee()).permute(2, 0, 1).float()[None] / 255
    x = (torch.nn.functional.interpolate(img, size=(224, 224), mode="bilinear", antialias=True) - 0.5) / 0.5
    with torch.no_grad():
        top5 = model(x).topk(5).indices[0].tolist()
    assert {967, 968, 504} & set(top5)  # espresso, cup, coffee mug


def test_single_channel_adaptation_and_new_head():
    model = create_model("tf_efficientnet_lite0.in1k", num_classes=3, in_chans=1)
    rgb = zoo.load_pretrained_state("tf_efficientnet_lite0.in1k")["conv_stem.weight"]
    assert model.conv_stem.weight.shape[1] == 1
    torch.testing.assert_close(model.conv_stem.weight.data, rgb.sum(dim=1, keepdim=True))
    assert model.classifier.out_features == 3


def test_offline_error_is_fast_and_says_where_to_put_the_file(ws):
    start = time.perf_counter()
    with pytest.raises(zoo.WeightsUnavailable) as err:
        create_model("resnet18.a1_in1k", num_classes=2, workspace=ws)
    assert time.perf_counter() - start < 2.0
    assert f"{ws.weights}/resnet18.a1_in1k.safetensors" in str(err.value) and "'none'" in str(err.value)
    assert create_model("resnet18.a1_in1k", num_classes=2, pretrain="none") is not None


def test_local_weights_folder_is_used(ws):
    import timm
    from safetensors.torch import save_file

    source = timm.create_model("resnet18", num_classes=1000).state_dict()
    save_file({k: v for k, v in source.items()}, str(ws.weights / "resnet18.a1_in1k.safetensors"))
    assert zoo.weight_source("resnet18.a1_in1k", ws).kind == "local"
    model = create_model("resnet18.a1_in1k", num_classes=2, workspace=ws)
    torch.testing.assert_close(model.conv1.weight.data, source["conv1.weight"])


def test_user_registered_pretraining_source(ws):
    from safetensors.torch import save_file

    state = zoo.load_pretrained_state("tf_efficientnet_lite0.in1k")
    state = {k: v + 1.0 if k == "conv_stem.weight" else v for k, v in state.items()}
    save_file(state, str(ws.weights / "cxr1.safetensors"))
    zoo.register_source(ws, "cxr1", "Chest X-ray Dataset #1", "tf_efficientnet_lite0.in1k", "cxr1.safetensors", modality="X-ray")
    sources = zoo.pretrain_sources("tf_efficientnet_lite0.in1k", ws)
    assert list(sources) == ["default", "cxr1", "none"] and sources["cxr1"] == "Chest X-ray Dataset #1"
    model = create_model("tf_efficientnet_lite0.in1k", num_classes=2, pretrain="cxr1", workspace=ws)
    torch.testing.assert_close(model.conv_stem.weight.data, state["conv_stem.weight"])
    with pytest.raises(ValueError, match="outside the workspace"):
        zoo.register_source(ws, "bad", "x", "tf_efficientnet_lite0.in1k", "/etc/hosts")


@pytest.mark.parametrize("task", kinds.names())
@pytest.mark.parametrize("modality", list(Modality))
def test_recommend_answers_every_combination_and_grows_with_size(task, modality):
    recs = [zoo.recommend(task, modality, size) for size in range(1, 6)]
    params = [zoo.get(r.model).params_m for r in recs]
    assert params == sorted(params)
    assert all(kinds.get(task).fits_network(zoo.get(r.model)) and r.reason and r.batch_size > 0 for r in recs)


def test_recommend_prefers_offline_weights_and_says_so():
    rec = zoo.recommend("single_label", "CT", 5)
    assert zoo.weight_source(rec.model) is not None
    assert "offline" in rec.reason


@pytest.mark.slow
def test_every_entry_instantiates_with_the_catalogued_size():
    """The catalog is not fiction: every arch builds (on the meta device) with its parameter count."""
    import timm

    counted: dict[str, float] = {}  # entries share architectures (weights of one arch): build each once
    wrong = []
    for entry in zoo.catalog().values():
        if entry.arch not in counted:
            with torch.device("meta"):
                model = timm.create_model(entry.arch, pretrained=False)
            counted[entry.arch] = sum(p.numel() for p in model.parameters()) / 1e6
        if abs(counted[entry.arch] - entry.params_m) > 0.01:
            wrong.append((entry.name, counted[entry.arch], entry.params_m))
    assert not wrong


def test_hugging_face_cache_is_found_on_disk(tmp_path, monkeypatch):
    import timm
    from safetensors.torch import save_file

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    snapshot = tmp_path / "models--timm--resnet18.a1_in1k" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    save_file(timm.create_model("resnet18").state_dict(), str(snapshot / "model.safetensors"))
    assert zoo.weight_source("resnet18.a1_in1k").kind == "hf_cache"
    assert create_model("resnet18.a1_in1k", num_classes=2) is not None


@pytest.mark.parametrize(("size", "words"), [(1, "the smallest network"), (2, "a small network"), (5, "the largest network")])
def test_the_reason_reads_as_english_and_claims_no_wrong_native_size(size, words):
    rec = zoo.recommend("single_label", "Other", size)
    assert f"is {words} among those we recommend" in rec.reason
    assert "native 224" not in rec.reason  # lite2's native size is 260
