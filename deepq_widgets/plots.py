"""Charts as PNG bytes from matplotlib `Figure` objects (never pyplot: it is not thread-safe and
`display(fig)` from a poller thread shows nothing under Voilà)."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Sequence

COLORS = ["#1a8fd6", "#e5711d", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]


def _plain_text(draw: Callable[..., bytes]) -> Callable[..., bytes]:
    """Names drawn as written: matplotlib reads text between two '$' as mathematics, so a class named
    "cost $5 or $10" came out in italics, and one that is not valid mathematics made the whole chart fail."""

    @functools.wraps(draw)
    def drawn(*args: object, **kwargs: object) -> bytes:
        from matplotlib import rc_context

        with rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return drawn


def _figure(width: float = 5.0, height: float = 3.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=90)
    return fig, fig.add_subplot(111)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


@_plain_text
def curves(epochs: Sequence[int], series: dict[str, Sequence[float | None]], title: str, ylabel: str) -> bytes:
    """One line per named series over the epochs (counted from 1)."""
    fig, ax = _figure()
    for i, (name, values) in enumerate(series.items()):
        y = [float("nan") if v is None else v for v in values]
        ax.plot(list(epochs), y, marker="o", ms=3, color=COLORS[i % len(COLORS)], label=name.replace("_", " "))
    from matplotlib.ticker import MaxNLocator

    ax.set_title(title, fontsize=10)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no tick at 1.2
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=8)
    return _png(fig)


@_plain_text
def roc(curves_by_class: dict[str, dict], kind: str = "roc", labels: dict[str, str] | None = None) -> bytes:
    """ROC (fpr/tpr), PR (recall/precision) or FROC (fp_per_image/recall) per class; `labels` for the legend."""
    axes = {
        "roc": ("fpr", "tpr", "False positive rate", "True positive rate"),
        "pr": ("recall", "precision", "Recall", "Precision"),
        "froc": ("fp_per_image", "recall", "False positives per image", "Sensitivity"),
    }[kind]
    fig, ax = _figure(4.2, 3.4)
    for i, (name, c) in enumerate(curves_by_class.items()):
        if axes[0] in c and axes[1] in c:
            ax.plot(c[axes[0]], c[axes[1]], color=COLORS[i % len(COLORS)], label=(labels or {}).get(name, name))
    if kind == "roc":
        ax.plot([0, 1], [0, 1], ls="--", color="#9aa5b1", lw=0.8)
    ax.set_xlabel(axes[2])
    ax.set_ylabel(axes[3])
    ax.set_title(kind.upper(), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


Bars = Sequence[tuple[float, float, float, int]]  # per bin: its low edge, mean probability, observed frequency, count


def reliability(bins: Bars, scaled: Bars, width: float, what: str) -> bytes:
    """The reliability diagram: per bin of probability, how often the outcome was true (bars, drawn at the bin's mean
    probability, their count above), against the diagonal where probabilities mean what they say; `scaled`, the
    same after temperature scaling, as a line."""
    fig, ax = _figure(4.2, 3.4)
    ax.plot([0, 1], [0, 1], ls="--", color="#9aa5b1", lw=0.8)
    ax.bar([b[0] for b in bins], [b[2] for b in bins], width=width, align="edge", color=COLORS[0], alpha=0.75, label="as trained")
    for low, _, observed, count in bins:
        ax.text(low + width / 2, observed + 0.02, str(count), ha="center", fontsize=7, color="#52606d")
    if scaled:
        ax.plot([b[1] for b in scaled], [b[2] for b in scaled], marker="o", ms=3, color=COLORS[1], label="after temperature")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.1)
    ax.set_xlabel(f"Predicted probability ({what})")
    ax.set_ylabel("Observed frequency")
    ax.set_title("Reliability", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return _png(fig)


def count_colour(value: int, largest: int) -> str:
    """White on the dark half of the Blues scale, dark ink on the light half: every count readable."""
    return "#ffffff" if largest and value > largest / 2 else "#1f2933"


@_plain_text
def confusion(matrix: list[list[int]], classes: list[str]) -> bytes:
    fig, ax = _figure(3.6 + 0.3 * len(classes), 3.2 + 0.3 * len(classes))
    ax.imshow(matrix, cmap="Blues")
    largest = max((v for row in matrix for v in row), default=0)
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=9, color=count_colour(v, largest))
    ax.set_xticks(range(len(classes)), classes, rotation=30, fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix", fontsize=10)
    return _png(fig)


Points = tuple[Sequence[float], Sequence[float]]


@_plain_text
def chart(title: str, x_label: str, y_label: str, series: dict[str, Points], style: str, reference: str) -> bytes:
    """A kind's own chart (contracts.Chart): lines or points per series, with a dashed reference line
    (`identity`: y = x over the data's range, `zero`: y = 0)."""
    fig, ax = _figure(4.2, 3.6)
    xs = [v for x, _ in series.values() for v in x]
    ys = [v for _, y in series.values() for v in y]
    for i, (name, (x, y)) in enumerate(series.items()):
        colour = COLORS[i % len(COLORS)]
        if style == "scatter":
            ax.scatter(x, y, s=12, alpha=0.7, color=colour, label=name, linewidths=0)
        else:
            ax.plot(x, y, color=colour, label=name)
    if reference == "identity" and xs:
        low, high = min(min(xs), min(ys)), max(max(xs), max(ys))
        ax.plot([low, high], [low, high], ls="--", color="#9aa5b1", lw=0.8, label="identity")
    elif reference == "zero" and xs:
        ax.axhline(0.0, ls="--", color="#9aa5b1", lw=0.8)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if len(series) > 1 or reference == "identity":
        ax.legend(fontsize=8)
    return _png(fig)
