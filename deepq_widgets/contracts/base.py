"""The ground every contract stands on: the JSON model, a figure that may be undefined, and the metrics."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

Number = float | None  # None where a figure is undefined (an AUROC with one class present)


class Contract(BaseModel):
    # A diverged fit's loss is NaN or infinite: written as "NaN" / "Infinity" and read back as such (the
    # default writes null, which a float field then refuses, and every view of the task failed).
    model_config = ConfigDict(extra="forbid", populate_by_name=True, ser_json_inf_nan="strings")

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


# -- metrics --------------------------------------------------------------------------------------
class Metrics(Contract):
    """Headline figures (accuracy, auroc, map50, dice…) and the same kind of figure per class."""

    headline: dict[str, Number] = Field(default_factory=dict)
    per_class: dict[str, dict[str, Number]] = Field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = Field(default_factory=dict)  # 95% CI of headline figures (intervals.py)
    cases: int | None = None  # how many cases the figures come from
    warning: str | None = None  # too few cases (or of a class) for stable figures
    chance: str | None = None  # a classifier not shown better than chance (intervals.chance_warning)

    @field_validator("headline", mode="before")
    @classmethod
    def _no_nan(cls, value: dict[str, Any]) -> dict[str, Any]:
        return {k: _finite(v) for k, v in value.items()}

    @field_validator("per_class", mode="before")
    @classmethod
    def _no_nan_per_class(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {c: {k: _finite(v) for k, v in row.items()} for c, row in value.items()}

    def flat(self) -> dict[str, Any]:
        """One flat mapping, `auroc`, `auroc_ci` ([low, high]) and `auroc_<class>`: the task row's
        summary and the CLI's JSON."""
        out: dict[str, Any] = dict(self.headline)
        out |= {f"{name}_ci": list(interval) for name, interval in self.intervals.items()}
        for cls, row in self.per_class.items():
            out |= {f"{name}_{cls}": value for name, value in row.items()}
        if self.cases is not None:
            out["cases"] = self.cases
        if self.warning:
            out["warning"] = self.warning
        if self.chance:
            out["chance"] = self.chance
        return out
