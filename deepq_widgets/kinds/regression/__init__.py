"""Regression: a number per image (bone age, ejection fraction, a nodule's diameter, a severity score).

Read from `label.csv` as `path,value`, beside a `target.txt` whose first line names the quantity and
whose second (optional) gives its unit:

    nodule diameter
    mm

The model card's one class is the quantity with its unit ("nodule diameter (mm)"). A value that is
not a finite number leaves its row out, named; a value column holding class names beside numbers
is refused as a whole, with the reason (that file is a classification one).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..base import LabelFormat, RowReading, TaskKind

TARGET_FILE = "target.txt"
VALUE = "value"  # the Case field the measured value is kept in


def target_name(lines: list[str], rows: list[dict[str, str]]) -> list[str]:
    """The one class: target.txt's quantity with its unit, else 'value'."""
    name = lines[0] if lines else VALUE
    return [f"{name} ({lines[1]})" if len(lines) > 1 else name]


def number(text: str) -> float | None:
    """`text` as a finite number, or None (empty, not a number, NaN or infinite)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_rows(rows: list[dict[str, str]], classes: list[str]) -> RowReading:
    """One image's rows: one finite value (the same value twice is one)."""
    texts = sorted({r[VALUE] for r in rows})
    if len(texts) > 1:
        return RowReading(tuple(classes[:1]), problem=f"several values {texts} for one image")
    value = number(texts[0])
    if value is None:
        what = "empty" if not texts[0] else f"{texts[0]!r} is not a finite number"
        return RowReading(tuple(classes[:1]), problem=f"value {what}")
    return RowReading(tuple(classes[:1]), fields={VALUE: value})


def refuse(rows: list[dict[str, str]]) -> str | None:
    """A value column of class names (a word used for several images) is a classification file, not this."""
    words = Counter(r[VALUE] for r in rows if r[VALUE] and number(r[VALUE]) is None and r[VALUE].lower() not in ("nan", "inf", "-inf"))
    repeated = sorted(w for w, n in words.items() if n > 1)
    if repeated:
        return (
            f"the value column holds class names ({', '.join(repeated[:4])}) beside numbers: a regression label file "
            "gives one number per image; for classes write path,class"
        )
    return None


@dataclass(frozen=True, eq=False)
class Regression(TaskKind):
    def statistics(self, data: Any, train: list[int]) -> dict[str, Any]:
        import numpy as np

        values = data.column(VALUE)[train]
        if not len(values):
            return {}
        return {
            "target": {
                "name": data.classes[0],
                "mean": float(values.mean()),
                "sd": float(values.std()),
                "min": float(values.min()),
                "median": float(np.median(values)),
                "max": float(values.max()),
            }
        }

    def describe_statistics(self, statistics: Mapping[str, Any]) -> list[str]:
        t = statistics.get("target")
        if not t:
            return []
        return [
            f"{t['name']} on the training cases: mean {t['mean']:.3g} (SD {t['sd']:.3g}), "
            f"median {t['median']:.3g}, range {t['min']:.3g}–{t['max']:.3g}"
        ]


KIND = Regression(
    name="regression",
    value_name="{}",
    order=50,
    title="Regression",
    about="A number per image, e.g. bone age, ejection fraction or a nodule's diameter.",
    annotations=("regression",),
    headline=("mae", "rmse", "r2"),
    target_noun=("quantity", "quantities"),
    head="a linear output on the pooled features, scaled to the quantity's unit (squared error)",
    label_formats=(
        LabelFormat("regression", ("path", VALUE), read_rows=read_rows, classes=target_name, marker=TARGET_FILE, refuse=refuse),
    ),
    training="deepq_widgets.kinds.regression.training:RegressionTraining",
)
