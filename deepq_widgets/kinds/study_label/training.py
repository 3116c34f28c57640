"""Study classification: a zoo network encodes each slice, and the study's call is made from its slices'.

Two ways, chosen by the plan (`Hyperparameters.study_model`):
- **multiple-instance learning** on the study label alone: a pooling over the slices makes the study's
  features, a linear layer classifies them, trained end to end. The pooling is gated attention (Ilse,
  Tomczak and Welling, 2018: a learned weight per slice, summing to one over the study) or a feature-wise
  max over the slices.
- **2.5D** on slice labels: each slice is read with its neighbours as extra input channels (the stem of
  the pretrained network widened, each copy of its weights divided by their number, so it starts as the 2D
  network), the classifier scores every slice, and the study is called by its most abnormal slice. The
  loss is the slice labels' (every slice of a normal study is normal) plus the study label's on that slice;
  validation, which early stopping and the kept weights follow, scores the labelled slices alone.

The mode is in the network's buffers (`max_pooling`, `context`, `background`) and the widened stem in its
weights, so a registered model rebuilds as it trained from its weights alone. The slices' own votes (the
classifier on each slice's features) give the per-slice score curve of a prediction, and Grad-CAM runs on
the slices that vote most.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from fastai.callback.core import Callback
from torch import nn

from ...contracts import Chart, ChartSeries, Evaluation, Metrics, Prediction
from ...spec import StudyModel
from ...training import metrics
from ...training.backbones import create_model
from ...training.kind_training import Accumulator, Said
from ...training.metrics import NEGATIVE_NAMES
from ..single_label.training import ClassificationAccumulator, SingleLabelTraining, normalised_map

ATTENTION_SIZE = 128
HEATMAP_SLICES = 3  # Grad-CAM on the slices that vote most for the called class
ENCODE_AT_ONCE = 64  # slices through the encoder at a time when scoring without gradients
CURVES = 3  # validation studies whose slice score curves the evaluation draws


@dataclass
class StudyOutput:
    """What the final evaluation reads of a batch of studies: the study logits, and per slice the vote of each
    class (the classifier on that slice's features, softmax) and its weight in the pooling."""

    logits: torch.Tensor  # (B, K)
    votes: torch.Tensor  # (B, S, K)
    weights: torch.Tensor  # (B, S)


SliceLogits = tuple  # a 2.5D network's output while training: study (B, K), slices (B, S, K), the normal class (-1: none)
# (a plain tuple: fastai maps its callbacks over a prediction's items and rebuilds it as its own type)


class StudyNet(nn.Module):
    """(B, S, C, H, W) studies (slices in patient order) -> (B, K) logits. In 2.5D the loader may hand each slice
    with its neighbours already, (B, S, N, C, H, W); a study of consecutive slices gets them here."""

    def __init__(self, encoder: nn.Module, num_classes: int):
        super().__init__()
        self.encoder = encoder  # a zoo network without its classifier: (N, C, H, W) -> (N, F)
        width = encoder.num_features
        self.attention = nn.Linear(width, ATTENTION_SIZE)
        self.gate = nn.Linear(width, ATTENTION_SIZE)
        self.weight = nn.Linear(ATTENTION_SIZE, 1)
        self.classifier = nn.Linear(width, num_classes)
        nn.init.trunc_normal_(self.classifier.weight, std=0.01)  # a new head starts near zero (backbones._small_head)
        nn.init.zeros_(self.classifier.bias)
        self.register_buffer("max_pooling", torch.zeros(()))
        self.register_buffer("context", torch.zeros((), dtype=torch.int64))  # 2.5D: neighbours each side; 0: MIL
        self.register_buffer("background", torch.full((), -1, dtype=torch.int64))  # the normal class, for 2.5D
        self._register_load_state_dict_pre_hook(self._widen_to_fit, with_module=True)
        self.slice_outputs = False  # 2.5D while fitting: answer every slice's logits too (SliceLogitsWhileFitting)

    def read_in_context(self, neighbours: int) -> None:
        """Read each slice with `neighbours` slices on each side: the stem takes (2n + 1) x C channels, its pretrained
        weights copied for each slice and divided by their number (the same response to a repeated slice)."""
        if neighbours == int(self.context):
            return
        stem = _stem(self.encoder)
        copies = 2 * neighbours + 1
        channels = stem.in_channels // (2 * int(self.context) + 1)
        weight = stem.weight.detach()[:, :channels] * (2 * int(self.context) + 1)
        stem.weight = nn.Parameter(weight.repeat(1, copies, 1, 1) / copies)
        stem.in_channels = channels * copies
        self.context.fill_(neighbours)

    @staticmethod
    def _widen_to_fit(module: StudyNet, state: dict, prefix: str, *_: Any) -> None:
        """Loading weights of a 2.5D network into a fresh one: widen its stem first."""
        saved = state.get(prefix + "context")
        if saved is not None:
            module.read_in_context(int(saved))

    def slice_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, S, C, H, W) or, with neighbours, (B, S, N, C, H, W) -> (B, S, F). Without gradients (validation,
        prediction) the slices go through the encoder ENCODE_AT_ONCE at a time, so scoring many long studies holds
        one chunk's activations."""
        x = self.slice_inputs(x)
        flat = x.flatten(0, 1)
        if _stem(self.encoder).weight.is_contiguous(memory_format=torch.channels_last):
            flat = flat.contiguous(memory_format=torch.channels_last)
        whole = torch.is_grad_enabled() or torch.jit.is_tracing()  # an export traces one pass, for any number of slices
        parts = [flat] if whole else flat.split(ENCODE_AT_ONCE)
        return torch.cat([self.encoder(part) for part in parts]).view(x.shape[0], x.shape[1], -1)

    def slice_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """(B, S, C', H, W): what the encoder reads of each slice (in 2.5D the slice and its neighbours as channels)."""
        if x.dim() == 5 and int(self.context):
            x = neighbours_of(x, int(self.context))
        return x.flatten(2, 3) if x.dim() == 6 else x

    def slice_weights(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, S, F) -> (B, S): how much each slice counts (attention), or its share of the max (max pooling)."""
        if self.max_pooling.item():
            winners = feats.argmax(1)  # (B, F): which slice gave each feature
            return F.one_hot(winners, feats.shape[1]).float().mean(1)
        scores = self.weight(torch.tanh(self.attention(feats)) * torch.sigmoid(self.gate(feats)))[..., 0]
        return scores.softmax(1)

    def explain(self, x: torch.Tensor) -> StudyOutput:
        """The study's logits with each slice's votes and weights, from one pass of the encoder."""
        feats = self.slice_features(x)
        if int(self.context):
            slices = self.classifier(feats)
            key = self.key_slices(slices)
            return StudyOutput(_at(slices, key), slices.softmax(-1), F.one_hot(key, slices.shape[1]).float())
        return StudyOutput(self.classifier(self.pool(feats)), self.classifier(feats).softmax(-1), self.slice_weights(feats))

    def key_slices(self, slices: torch.Tensor) -> torch.Tensor:
        """(B, S, K) slice logits -> (B,) the slice of each study least likely normal (the middle one without a normal class)."""
        if int(self.background) < 0:
            return torch.full(slices.shape[:1], slices.shape[1] // 2, dtype=torch.int64, device=slices.device)
        return slices.softmax(-1)[..., int(self.background)].argmin(1)

    def pool(self, feats: torch.Tensor) -> torch.Tensor:
        if self.max_pooling.item():
            return feats.max(1).values
        return (self.slice_weights(feats)[..., None] * feats).sum(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor | SliceLogits:
        """The study's logits; while fitting in 2.5D, every slice's too (`SliceLogits`), for the slice labels' loss."""
        feats = self.slice_features(x)
        if not int(self.context):
            return self.classifier(self.pool(feats))
        slices = self.classifier(feats)
        study = _at(slices, self.key_slices(slices)) if int(self.background) >= 0 else slices.mean(1)
        return (study, slices, self.background) if self.slice_outputs else study


class SliceLogitsWhileFitting(Callback):
    """In 2.5D the loss reads every slice's logits while fitting. Training adds the study's term to the slices';
    validation scores the labelled slices alone (`validation_loss`): a figure over many slices, steadier than each
    study's call by its most abnormal slice, which swings early in a fit (on head CT it now falls every epoch where
    the sum swung; on the subtle emboli of the studies benchmark both kept an early epoch: benchmarks/README.md).
    Outside a fit the network answers with the study's logits."""

    def before_fit(self) -> None:
        _unwrapped(self.learn.model).slice_outputs = True

    def before_train(self) -> None:
        self.learn.loss_func = study_loss

    def before_validate(self) -> None:
        self.learn.loss_func = validation_loss

    def after_fit(self) -> None:
        _unwrapped(self.learn.model).slice_outputs = False
        self.learn.loss_func = study_loss


def _unwrapped(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)  # data parallel wraps the network


def neighbours_of(x: torch.Tensor, context: int) -> torch.Tensor:
    """(B, S, C, H, W) consecutive slices -> (B, S, 2 x context + 1, C, H, W): each with its neighbours, held at the ends."""
    depth = x.shape[1]
    around = torch.arange(depth, device=x.device)[:, None] + torch.arange(-context, context + 1, device=x.device)
    return x[:, around.clamp(0, depth - 1)]


def _at(slices: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """(B, S, K) logits and (B,) slice indices -> (B, K): each study's logits at its key slice."""
    return slices[torch.arange(slices.shape[0], device=slices.device), key]


def _stem(encoder: nn.Module) -> nn.Conv2d:
    """The encoder's first convolution: the one that reads the input channels."""
    return next(m for m in encoder.modules() if isinstance(m, nn.Conv2d))


def study_loss(pred: torch.Tensor | SliceLogits, y: torch.Tensor, slice_y: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy on the study labels; in 2.5D plus that of the labelled slices, where every slice of a normal
    study counts as normal."""
    if not isinstance(pred, tuple):
        return F.cross_entropy(pred, y)
    loss = F.cross_entropy(pred[0], y)
    slices = _labelled_slices(pred, y, slice_y)
    return loss if slices is None else loss + F.cross_entropy(*slices)


def validation_loss(pred: torch.Tensor | SliceLogits, y: torch.Tensor, slice_y: torch.Tensor | None = None) -> torch.Tensor:
    """2.5D's validation figure: the labelled slices' cross-entropy alone (the study's where none is labelled)."""
    slices = _labelled_slices(pred, y, slice_y) if isinstance(pred, tuple) else None
    return study_loss(pred, y, slice_y) if slices is None else F.cross_entropy(*slices)


def _labelled_slices(pred: SliceLogits, y: torch.Tensor, slice_y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The logits and classes of the slices whose class is known (those of normal studies are normal), or None."""
    if slice_y is None:
        return None
    _, slices, background = pred
    if int(background) >= 0:
        normal = (y == background)[:, None] & (slice_y < 0)
        slice_y = torch.where(normal, background.to(slice_y), slice_y)
    known = slice_y >= 0
    return (slices[known], slice_y[known]) if known.any() else None


def negative_index(classes: list[str]) -> int:
    """The class that means 'nothing found' (named normal, negative, ...), or -1 when there is not exactly one."""
    named = [i for i, c in enumerate(classes) if c.lower() in NEGATIVE_NAMES]
    return named[0] if len(named) == 1 else -1


class StudyAccumulator(ClassificationAccumulator):
    """Single-label figures per study; the final evaluation also keeps each study's slice curves and draws those
    of the most telling validation studies."""

    def reset(self) -> None:
        super().reset()
        self.curves: list[tuple[np.ndarray, np.ndarray]] = []  # per study: votes (S, K), weights (S,)
        self.slice_truth: list[np.ndarray] = []  # per study: each scored slice's class, -1 unlabelled

    def add(self, pred: Any, yb: tuple) -> None:
        if isinstance(pred, tuple):  # a 2.5D network while fitting: the study's logits first (SliceLogits)
            pred = pred[0]
        if isinstance(pred, StudyOutput):
            self.curves += [(v.float().cpu().numpy(), w.float().cpu().numpy()) for v, w in zip(pred.votes, pred.weights, strict=True)]
            if len(yb) > 1:
                self.slice_truth += list(yb[1].cpu().numpy())
            pred = pred.logits
        super().add(pred, yb)

    def evaluation(self, task: str, cases: list[str]) -> Evaluation:
        found = super().evaluation(task, cases)
        if self.curves:
            found.charts = self.slice_charts(cases)
            found.key_slices = self.key_slices(found)
            found.slice_level = self.slice_figures()
        return found

    def slice_figures(self) -> Metrics | None:
        """The slices' own figures on the labelled validation slices (both classes present), argmax decisions."""
        if len(self.slice_truth) != len(self.curves):
            return None
        votes = np.concatenate([v for v, _ in self.curves])
        truth = np.concatenate(self.slice_truth)
        labelled = truth >= 0
        if len(np.unique(truth[labelled])) < 2:
            return None
        found = metrics.single_label(votes[labelled], truth[labelled], self.classes, with_intervals=True)
        found.warning = (
            f"{int(labelled.sum())} slices of {len(self.curves)} studies: slices of one study are not independent, "
            "so these intervals are narrower than the truth; the study figures are the ones to judge."
        )
        return found

    def key_slices(self, found: Evaluation) -> dict[int, list[float]]:
        """Where the slices that voted most for the called class lie in each gallery study (0 its first slice, 1 its
        last: validation may score an even spread of a long study's slices)."""
        scores, _ = self.arrays()
        shown = {i for gallery in found.gallery.values() for picked in (gallery.tp, gallery.fp, gallery.fn) for i in picked}
        out = {}
        for i in sorted(shown):
            votes = self.curves[i][0][:, int(scores[i].argmax())]
            top = np.argsort(-votes)[:HEATMAP_SLICES]
            out[i] = [round((float(k) + 0.5) / len(votes), 4) for k in sorted(top)]
        return out

    def slice_charts(self, cases: list[str]) -> list[Chart]:
        """Per-slice scores of the studies the model is surest show a finding (the positive class, else the first)."""
        scores, truth = self.arrays()
        k = next((i for i, c in enumerate(self.classes) if c.lower() not in ("normal", "negative", "none")), 0)
        picked = [int(i) for i in np.argsort(-scores[:, k])[:CURVES]]
        charts = []
        for i in picked:
            votes, weights = self.curves[i]
            slices = list(range(1, len(weights) + 1))
            told = "shows" if truth[i] == k else "does not show"
            charts.append(
                Chart(
                    title=f"Slice scores of {cases[i].rsplit('/', 1)[-1]} ({told} {self.classes[k]}; study {scores[i, k]:.2f})",
                    x_label="slice (feet to head)",
                    y_label="score",
                    series=[
                        ChartSeries(name=f"slice's P({self.classes[k]})", x=slices, y=votes[:, k].tolist()),
                        ChartSeries(name="weight in the study", x=slices, y=(weights / max(float(weights.max()), 1e-9)).tolist()),
                    ],
                )
            )
        return charts


class StudyLabelTraining(SingleLabelTraining):
    """Single-label classification with studies for images: the loss, targets, figures and operating point
    are single-label's; the network, its parameter groups and what a prediction says are the study's."""

    ensemble_activation = ""  # not averaged into k-fold ensembles yet

    def build_model(self, arch, num_classes, in_chans, image_size, pretrain, workspace) -> nn.Module:
        encoder = create_model(arch, num_classes=0, in_chans=in_chans, pretrain=pretrain, workspace=workspace)
        return StudyNet(encoder, num_classes)

    def loss(self) -> Any:
        return study_loss

    def callbacks(self) -> list:
        return [SliceLogitsWhileFitting()]

    def adapt(self, model: nn.Module, data: Any, train, hyper: Any = None) -> None:
        """The plan's way of reading a study, kept in the network's buffers and weights."""
        model.background.fill_(negative_index(data.classes))
        if hyper is not None:
            model.max_pooling.fill_(float(hyper.study_model is StudyModel.max))
            model.read_in_context(hyper.context if hyper.study_model is StudyModel.context else 0)

    def body_parameters(self, model: nn.Module):
        return model.encoder.parameters()

    def accumulator(self, classes) -> Accumulator:
        return StudyAccumulator(classes)

    def forward(self, model: nn.Module, x: torch.Tensor, yb: tuple) -> Any:
        return model.explain(x) if isinstance(model, StudyNet) else model(x)

    def predict(self, model, x, classes, heatmap, thresholds) -> Said:
        """The study's scores and call, each slice's vote for the called class and its weight in the pooling,
        and Grad-CAM on the slices that vote most (a (S, H, W) heatmap, zero elsewhere)."""
        with torch.no_grad():
            said = model.explain(x)
        probs, votes, weights = said.logits.softmax(1)[0], said.votes[0], said.weights[0]
        scores = {c: float(p) for c, p in zip(classes, probs, strict=True)}
        decision = self.decide(scores, thresholds)
        called = classes.index(decision)
        top = [int(i) for i in torch.argsort(votes[:, called], descending=True)[:HEATMAP_SLICES]]
        prediction = Prediction(
            image="",
            summary=f"{decision} {scores[decision]:.2f} (slices {', '.join(str(i + 1) for i in sorted(top))} most telling)",
            decision=decision,
            values=scores,
            slice_scores={decision: votes[:, called].tolist(), "weight": weights.tolist()},
            key_slices=top,
        )
        said = Said(prediction)
        if heatmap:
            maps = np.zeros((x.shape[1], *x.shape[-2:]), np.float32)
            inputs = model.slice_inputs(x)
            for i in top:
                maps[i] = normalised_map(slice_cam(model, inputs[:, i], called))
            said.heatmap = maps
        return said


def slice_cam(model: StudyNet, image: torch.Tensor, target: int) -> torch.Tensor:
    """Grad-CAM of one slice's own vote for class `target` on the encoder's last feature map."""
    feats = model.encoder.forward_features(image).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(model.classifier(model.encoder.forward_head(feats))[0, target], feats)
    cam = F.relu((grad.mean((2, 3), keepdim=True) * feats.detach()).sum(1))[0]
    return F.interpolate(cam[None, None], size=image.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
