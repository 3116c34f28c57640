"""Export a registered model, and run it on new images.

Formats: `safetensors` (the weights and model.json, as stored), `torchscript` (a traced
module) and `onnx` (opset 17, dynamic batch). Classification and segmentation export the
network as is; a detector's post-processing stays in Python, so detection exports
safetensors only. Prediction reads images through the same readers and windows as training,
and draws Grad-CAM heatmaps for classification.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data.readers import read_image
from ..workspace import Workspace
from .registry import load_model

FORMATS = ("safetensors", "torchscript", "onnx")


def export_model(workspace: Workspace, model_id: str, fmt: str, out_dir: str | Path) -> Path:
    """Write the model in `fmt` to `out_dir` (inside the workspace); returns the file written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = workspace.resolve(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model, card = load_model(workspace, model_id)
    (out / f"{model_id}.json").write_text(json.dumps(card, indent=2, default=str))
    if fmt == "safetensors":
        target = out / f"{model_id}.safetensors"
        shutil.copy(workspace.models / model_id / "model.safetensors", target)
        return target
    if card["task"] == "detection":
        raise ValueError("detection models export as safetensors (their post-processing is Python code)")
    model.eval()
    example = torch.zeros(1, card["channels"], card["image_size"], card["image_size"])
    if fmt == "torchscript":
        target = out / f"{model_id}.torchscript.pt"
        torch.jit.trace(model, example).save(str(target))
        return target
    target = out / f"{model_id}.onnx"
    torch.onnx.export(
        model,
        (example,),
        str(target),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    return target


def preprocess(path: str | Path, card: dict[str, Any]) -> torch.Tensor:
    """One image as the network saw its training cases: windows, channels, size, normalisation."""
    from PIL import Image

    pixels = read_image(path, windows=card["windows"] or None).pixels
    c = card["channels"]
    if pixels.shape[-1] != c:
        pixels = pixels[..., :3].mean(-1, keepdims=True) if c == 1 else np.repeat(pixels[..., :1], c, -1)
    size = card["image_size"]
    planes = [
        np.asarray(Image.fromarray((np.clip(pixels[..., k], 0, 1) * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR))
        for k in range(c)
    ]
    x = torch.from_numpy(np.stack(planes, 0)).float()[None] / 255
    return (x - torch.tensor(card["mean"]).view(1, -1, 1, 1)) / torch.tensor(card["std"]).view(1, -1, 1, 1)


def predict(workspace: Workspace, model_id: str, paths: list[str | Path], heatmaps: bool = False) -> list[dict[str, Any]]:
    """Scores per class (classification), detections, or per-class pixel fractions (segmentation)."""
    model, card = load_model(workspace, model_id)
    model.eval()
    out = []
    for path in paths:
        x = preprocess(path, card)
        item: dict[str, Any] = {"image": str(path)}
        if card["task"] == "detection":
            with torch.no_grad():
                det = model(x)["detections"][0]
            item["detections"] = [
                {"label": card["classes"][int(c) - 1], "score": float(s), "box": [float(v) for v in b]}
                for b, c, s in zip(det["boxes"], det["labels"], det["scores"], strict=True)
                if s >= 0.3
            ]
        elif card["task"] == "segmentation":
            with torch.no_grad():
                mask = model(x).argmax(1)[0]
            item["area"] = {c: float((mask == k + 1).float().mean()) for k, c in enumerate(card["classes"])}
            item["mask"] = mask.numpy().astype(np.uint8)
        else:
            item["scores"], item["heatmap"] = _classify(model, x, card, heatmaps)
        out.append(item)
    return out


def _classify(model: torch.nn.Module, x: torch.Tensor, card: dict[str, Any], heatmap: bool) -> tuple[dict[str, float], np.ndarray | None]:
    if not heatmap:
        with torch.no_grad():
            logits = model(x)
    else:  # Grad-CAM on the last feature map, for the top class
        feats = model.forward_features(x).detach().requires_grad_(True)
        logits = model.forward_head(feats)
    probs = logits.softmax(1) if card["task"] == "single_label" else logits.sigmoid()
    scores = {c: float(p) for c, p in zip(card["classes"], probs[0].detach(), strict=True)}
    if not heatmap:
        return scores, None
    top = int(probs[0].argmax())
    (grad,) = torch.autograd.grad(logits[0, top], feats)
    cam = F.relu((grad.mean((2, 3), keepdim=True) * feats.detach()).sum(1))[0]
    cam = F.interpolate(cam[None, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    cam = cam / cam.max() if float(cam.max()) > 0 else cam
    return scores, cam.numpy()
