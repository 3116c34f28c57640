"""Grad-CAM on two scales: a 128 px image is 4 x 4 cells of a network's last feature map, so a heatmap from it
alone marks whole quarters of a nodule's neighbourhood; the stride-16 stage makes it twice as fine."""

import timm
import torch
import torch.nn.functional as F

from deepq_widgets.kinds.single_label.training import finer_stage, grad_cam


def detail_beyond(heatmap: torch.Tensor, cells: int) -> float:
    """How much of the map a `cells` x `cells` grid, bilinearly upsampled, cannot say (0: none)."""
    coarse = F.adaptive_avg_pool2d(heatmap[None, None], cells)
    smooth = F.interpolate(coarse, size=heatmap.shape, mode="bilinear", align_corners=False)[0, 0]
    return float((heatmap - smooth).norm() / heatmap.norm())


def test_the_heatmap_combines_the_stride_16_stage_and_shows_detail_finer_than_the_last_map():
    torch.manual_seed(0)
    model = timm.create_model("resnet18", pretrained=False, num_classes=2).eval()
    assert finer_stage(model) is model.layer3  # stride 16; layer4 (stride 32) is the last map
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():  # as predict calls it: Grad-CAM turns gradients on for itself
        both = grad_cam(model, x, 1)
    assert both.shape == (128, 128) and float(both.min()) >= 0 and float(both.max()) <= 1
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=2, img_size=64)
    assert finer_stage(vit) is None  # every token is at stride 16: nothing finer to add
    last_only = grad_cam_on_the_last_map(model, x, 1)
    assert detail_beyond(both, 4) > 1.5 * detail_beyond(last_only, 4)  # what a 4 x 4 grid cannot hold (2.8x here)


def grad_cam_on_the_last_map(model, x, target):
    feats = model.forward_features(x).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(model.forward_head(feats)[0, target], feats)
    cam = F.relu((grad.mean((2, 3), keepdim=True) * feats.detach()).sum(1))[0]
    return F.interpolate(cam[None, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
