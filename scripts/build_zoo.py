"""Regenerate zoo/catalog.json from the installed timm.

Parameters and GFLOPs are measured on the meta device (no weights, no memory), at each
entry's default input size; GFLOPs count multiply and add separately (2 x MACs). ImageNet
top-1 comes from zoo/imagenet_top1.csv, an excerpt of timm's published results.

    python scripts/build_zoo.py            # writes zoo/catalog.json
"""

from __future__ import annotations

import csv
import json
import re
import sys
import time
from pathlib import Path

import timm
import torch
from timm.models import get_pretrained_cfg
from torch.utils.flop_counter import FlopCounterMode

ZOO = Path(__file__).resolve().parent.parent / "zoo"

# family: (pattern on the arch name, most entries to take, most tags per arch)
FAMILIES = {
    "ResNet": (r"^(resnet(18|26|34|50|101|152)d?|resnetrs\d+|wide_resnet\d+_2)$", 28, 3),
    "ResNeXt": (r"^resnext(26|50|101)", 10, 3),
    "DenseNet": (r"^densenet\d+$", 6, 1),
    "EfficientNet": (r"^(tf_)?efficientnet_(b[0-7]|lite[0-4]|es|em|el)(_pruned)?$", 30, 3),
    "EfficientNetV2": (r"^(tf_)?efficientnetv2_(rw_)?(b[0-3]|s|m|l|t)$", 16, 2),
    "MobileNet": (r"^(tf_)?mobilenetv(2|3|4)_", 20, 2),
    "ConvNeXt": (r"^convnext(v2)?_(atto|femto|pico|nano|tiny|small|base|large)$", 28, 3),
    "Inception": (r"^(inception_v3|inception_v4|inception_resnet_v2|tf_inception_v3)$", 6, 2),
    "SENet": (r"^(seresnext\d+\w*|seresnet\d+\w*|legacy_se\w+|senet154|legacy_senet154)$", 14, 2),
    "RegNet": (r"^regnet[xyz]_\d+", 24, 2),
    "VGG": (r"^vgg\d+(_bn)?$", 8, 1),
    "Swin": (r"^swin(v2)?_(tiny|small|base)_", 16, 2),
    "ViT": (r"^vit_(tiny|small|base|large)_patch(8|16|32)_(224|384)$", 26, 3),
    "DeiT": (r"^deit3?_(tiny|small|base)_(distilled_)?patch16_(224|384)$", 12, 1),
}
MAX_PARAMS_M = 320
# Always listed: the offline-weight entries and the Auto select ladder (zoo/recommend.yaml).
MUST = ["tf_efficientnet_lite0.in1k", "tf_efficientnet_lite1.in1k", "tf_efficientnet_lite2.in1k"]


def pretrain_label(tag: str) -> str:
    rules = [
        (r"in22k_ft|in21k_ft|in12k_ft|22k_ft", "ImageNet-21k → ImageNet-1k"),
        (r"in21k|in22k", "ImageNet-21k"),
        (r"in12k", "ImageNet-12k"),
        (r"laion|openai|clip", "CLIP (LAION/OpenAI) → ImageNet-1k"),
        (r"fcmae", "FCMAE self-supervised → ImageNet-1k"),
        (r"swsl|ssl|ig1b|ig", "Instagram semi/weakly supervised → ImageNet-1k"),
        (r"ns_jft|jft", "JFT noisy student → ImageNet-1k"),
        (r"tv2?_in1k", "ImageNet-1k (torchvision recipe)"),
        (r"in1k|augreg|ra|ap|a1|a2|a3|gluon|fb|ms|sw|lamb", "ImageNet-1k"),
    ]
    return next((label for pattern, label in rules if re.search(pattern, tag)), "ImageNet-1k")


def measure(arch: str, size: int) -> tuple[float, float, tuple[int, ...]]:
    with torch.device("meta"):
        model = timm.create_model(arch, pretrained=False).eval()
        x = torch.empty(1, 3, size, size)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    with FlopCounterMode(display=False) as counter:
        model(x)
    try:
        with torch.device("meta"):
            features = timm.create_model(arch, pretrained=False, features_only=True)
        reductions = tuple(features.feature_info.reduction())
    except Exception:  # not every arch supports features_only
        reductions = ()
    return params, counter.get_total_flops() / 1e9, reductions


def main() -> int:
    with open(ZOO / "imagenet_top1.csv") as fh:
        top1 = {r["model"]: float(r["top1"]) for r in csv.DictReader(fh) if not r["model"].startswith("#")}
    import yaml

    must = MUST + yaml.safe_load((ZOO / "recommend.yaml").read_text())["ladder"]
    pretrained = list(dict.fromkeys(must + timm.list_pretrained()))
    entries, start = [], time.time()
    for family, (pattern, cap, per_arch) in FAMILIES.items():
        taken: dict[str, int] = {}
        picked = 0
        for name in pretrained:
            arch, _, tag = name.partition(".")
            if not re.match(pattern, arch) or (name not in must and (picked >= cap or taken.get(arch, 0) >= per_arch)):
                continue
            cfg = get_pretrained_cfg(name)
            size = int(cfg.input_size[-1])
            if size > 512 or cfg.num_classes == 0:
                continue
            params, gflops, reductions = measure(arch, size)
            if params > MAX_PARAMS_M:
                continue
            entries.append(
                {
                    "name": name,
                    "arch": arch,
                    "tag": tag,
                    "family": family,
                    "variant": arch,
                    "pretrain": pretrain_label(tag),
                    "params_m": round(params, 3),
                    "gflops": round(gflops, 3),
                    "top1": top1.get(name),
                    "input_size": size,
                    "mean": [round(v, 4) for v in cfg.mean],
                    "std": [round(v, 4) for v in cfg.std],
                    "license": cfg.license or "unknown",
                    "reductions": list(reductions),
                    "hf_hub_id": cfg.hf_hub_id or "",
                }
            )
            taken[arch] = taken.get(arch, 0) + 1
            picked += 1
        print(f"{family}: {picked} entries ({time.time() - start:.0f}s)", file=sys.stderr)
    (ZOO / "catalog.json").write_text(json.dumps(entries, indent=1) + "\n")
    print(f"wrote {len(entries)} entries to {ZOO / 'catalog.json'} with timm {timm.__version__}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
