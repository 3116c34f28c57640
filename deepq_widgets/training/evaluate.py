"""The final evaluation of the kept weights on the validation cases, saved as evaluation.json.

The task kind's accumulator decides what it holds: metrics, a per-class table, curves,
the confusion matrix, and the gallery of true positives, false positives and false negatives.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Sequence

import torch

from ..contracts import Evaluation
from ..spec import OperatingPoint
from .kind_training import KindTraining
from .loaders import BatchLoader

CHECK_CASES = 8  # folding is exact or not whatever the batch: a few cases show it


def inference_network(model: torch.nn.Module, trainer: KindTraining, loader: BatchLoader) -> torch.nn.Module:
    """The network as fast as it infers here: channels_last on the CPU, every batch norm folded into
    the convolution before it (1.7x on the CPU for an EfficientNet), TensorFlow "same" padding made
    static for the input size, all kept only when a batch gives the same outputs."""
    model.eval()
    if loader.device.type == "cpu" and trainer.channels_last:
        model, loader.channels_last = model.to(memory_format=torch.channels_last), True
    example = loader.batch(loader.indices[:CHECK_CASES])[0]
    folded = static_same_padding(fold_batch_norms(copy.deepcopy(model)), example)
    with torch.no_grad():
        before, after = model(example), folded(example)
    same = isinstance(before, torch.Tensor) and torch.allclose(before, after, rtol=1e-3, atol=1e-3)
    return folded if same else model


def static_same_padding(model: torch.nn.Module, example: torch.Tensor) -> torch.nn.Module:
    """Replace timm's Conv2dSame (TensorFlow "same" padding: an F.pad copy of the input before every
    call, a fifth of an EfficientNet-Lite's time at 64 px) by a plain Conv2d for the input size it sees.
    Where the padding is one larger at the bottom and right (stride 2 on an even size), the kernel
    grows by one with a zero first row and column and both sides take the larger padding: the same
    windows and sums, float rounding apart (`inference_network` checks the outputs)."""
    from timm.layers import Conv2dSame

    sizes: dict[torch.nn.Module, tuple[int, int]] = {}

    def seen(module: torch.nn.Module, args: tuple) -> None:  # a pre-hook that returns a value replaces the input
        sizes.setdefault(module, tuple(args[0].shape[-2:]))

    hooks = [m.register_forward_pre_hook(seen) for m in model.modules() if isinstance(m, Conv2dSame)]
    with torch.no_grad():
        model(example)
    for hook in hooks:
        hook.remove()
    for parent in list(model.modules()):
        for name, conv in list(parent.named_children()):
            if conv in sizes and (plain := _static_conv(conv, sizes[conv])) is not None:
                setattr(parent, name, plain)
    return model


def _static_conv(conv: torch.nn.Conv2d, size: tuple[int, int]) -> torch.nn.Conv2d | None:
    pads = []
    for n, k, s, d in zip(size, conv.kernel_size, conv.stride, conv.dilation, strict=True):
        if d != 1:
            return None
        total = max((-(-n // s) - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    grow = [int(hi > lo) for lo, hi in pads]
    kernel = tuple(k + g for k, g in zip(conv.kernel_size, grow, strict=True))
    plain = torch.nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        kernel,
        conv.stride,
        tuple(hi for _, hi in pads),
        groups=conv.groups,
        bias=conv.bias is not None,
    )
    weight = torch.zeros_like(plain.weight)
    weight[..., grow[0] :, grow[1] :] = conv.weight.data
    plain.weight.data.copy_(weight)
    if conv.bias is not None:
        plain.bias.data.copy_(conv.bias.data)
    return plain.to(
        device=conv.weight.device,
        memory_format=torch.channels_last if conv.weight.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format,
    )


def fold_batch_norms(model: torch.nn.Module) -> torch.nn.Module:
    """Fold each BatchNorm2d into the Conv2d declared just before it (eval mode), in place."""
    for parent in model.modules():
        children = list(parent.named_children())
        for (_, conv), (name, norm) in itertools.pairwise(children):
            if not (isinstance(conv, torch.nn.Conv2d) and isinstance(norm, torch.nn.BatchNorm2d) and norm.track_running_stats):
                continue
            scale = (norm.weight if norm.affine else 1.0) / torch.sqrt(norm.running_var + norm.eps)
            shift = norm.bias if norm.affine else 0.0
            bias = conv.bias.data if conv.bias is not None else torch.zeros_like(norm.running_mean)
            conv.weight.data.mul_(scale.reshape(-1, 1, 1, 1))
            conv.bias = torch.nn.Parameter((bias - norm.running_mean) * scale + shift)
            after = [m for m in (getattr(norm, "drop", None), getattr(norm, "act", None)) if m is not None]  # timm's BatchNormAct2d
            setattr(parent, name, torch.nn.Sequential(*after) if after else torch.nn.Identity())
    return model


def evaluate(
    model: torch.nn.Module,
    loader: BatchLoader,
    trainer: KindTraining,
    classes: list[str],
    thresholds: list[float] | None = None,
    progress: Callable[[int, int], None] | None = None,
    operating_point: OperatingPoint | None = None,
) -> Evaluation:
    """The evaluation at a model's operating point `thresholds` (chosen on validation), or at the one the
    `operating_point` rule chooses on these cases (the task's validation: a temperature is fitted on them too)."""
    return evaluate_parts([(model, loader)], trainer, classes, thresholds, progress, operating_point)


def evaluate_parts(
    parts: Sequence[tuple[torch.nn.Module, BatchLoader]],
    trainer: KindTraining,
    classes: list[str],
    thresholds: list[float] | None = None,
    progress: Callable[[int, int], None] | None = None,
    operating_point: OperatingPoint | None = None,
) -> Evaluation:
    """One evaluation over disjoint sets of cases, each scored by its own network: with one part, a model
    on its cases; with k, a k-fold ensemble's out-of-fold figures (each case by the member that never
    trained on it)."""
    accumulator = trainer.accumulator(classes)
    accumulator.thresholds = thresholds
    accumulator.operating_point = operating_point or OperatingPoint()
    accumulator.calibrate = operating_point is not None
    batches, done, cases = sum(len(loader) for _, loader in parts), 0, []
    with torch.no_grad():
        for model, loader in parts:
            model.eval()
            for batch in loader:
                accumulator.add(trainer.forward(model, batch[0], batch[1:]), batch[1:])
                done += 1
                if progress is not None:
                    progress(done, batches)
            cases += [loader.data.cases[i].shown for i in loader.indices]
    return accumulator.evaluation(trainer.kind.name, cases)
