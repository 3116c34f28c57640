"""Folding batch norms for inference: the same outputs, or the network left as it was."""

import torch
from torch import nn

from deepq_widgets.training.evaluate import fold_batch_norms


def trained_bn(channels: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.uniform_(-0.5, 0.5)
    return bn


def test_folding_keeps_the_outputs_and_removes_the_norms():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), trained_bn(8), nn.ReLU(), nn.Conv2d(8, 4, 1, bias=False), trained_bn(4)).eval()
    x = torch.randn(5, 3, 16, 16)
    expected = net(x)
    folded = fold_batch_norms(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert torch.allclose(folded(x), expected, atol=1e-5)


class NormBeforeConv(nn.Module):
    """Declares conv then norm, but normalises the input: folding would be wrong."""

    def __init__(self):
        super().__init__()
        self.conv, self.norm = nn.Conv2d(3, 3, 1), trained_bn(3)

    def forward(self, x):
        return self.conv(self.norm(x))


def test_inference_network_keeps_a_network_that_folding_would_change():
    from deepq_widgets import kinds
    from deepq_widgets.training.evaluate import inference_network

    class Loader:
        device, bs, indices, channels_last = torch.device("cpu"), 4, [0, 1, 2, 3], False

        def batch(self, idx):
            return (torch.randn(len(idx), 3, 8, 8),)

    torch.manual_seed(1)
    net = NormBeforeConv().eval()
    kept = inference_network(net, kinds.get("single_label").trainer, Loader())
    assert any(isinstance(m, nn.BatchNorm2d) for m in kept.modules())


def test_static_same_padding_keeps_the_outputs_and_drops_every_dynamic_pad():
    """TensorFlow "same" padding becomes a plain convolution for the input size: the same outputs (float
    rounding apart) on even sizes (where stride 2 pads one more at the bottom and right) and odd ones."""
    import copy

    from timm.layers import Conv2dSame

    from deepq_widgets import kinds
    from deepq_widgets.training.evaluate import static_same_padding

    torch.manual_seed(0)
    model = kinds.get("single_label").trainer.build_model("tf_efficientnet_lite0.in1k", 3, 1, 64, "none", None).eval()
    for side in (64, 63):
        x = torch.randn(2, 1, side, side)
        static = static_same_padding(copy.deepcopy(model), x)
        assert not any(isinstance(m, Conv2dSame) for m in static.modules())
        assert static.conv_stem.kernel_size == ((4, 4) if side % 2 == 0 else (3, 3))  # grown only where it pads one more
        with torch.no_grad():
            assert (model(x) - static(x)).abs().max() < 1e-4
