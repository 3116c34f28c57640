"""Train/validation splits: stratified by class, grouped by patient or study.

When DICOM headers carry PatientID or StudyInstanceUID, every slice of a patient (else of a
study) goes to the same side, so validation never sees a patient it trained on.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .cases import Case


@dataclass(frozen=True)
class Split:
    train: list[int]
    valid: list[int]
    grouped_by: str  # "patient", "study" or "case"

    def notice(self) -> str:
        if self.grouped_by == "case":
            return "Cases are split one by one (no study or patient information)."
        who = self.grouped_by
        return f"DICOM {who} information found: train and validation are split by {who}, so no {who} appears on both sides."


def split_cases(cases: Sequence[Case], valid_pct: float, seed: int = 0) -> Split:
    """Indices of train and validation cases: about `valid_pct` percent of groups per stratum."""
    grouped_by = "patient" if any(c.patient for c in cases) else "study" if any(c.study for c in cases) else "case"
    groups: dict[str, list[int]] = defaultdict(list)
    for i, case in enumerate(cases):
        key = {"patient": case.patient, "study": case.study}.get(grouped_by) or f"case:{i}"
        groups[key].append(i)

    label_freq = Counter(label for c in cases for label in set(c.labels))
    strata: dict[str, list[str]] = defaultdict(list)
    for key, members in groups.items():
        strata[_stratum([cases[i] for i in members], label_freq)].append(key)

    rng = np.random.default_rng(seed)
    valid_groups: set[str] = set()
    for name in sorted(strata):
        keys = sorted(strata[name])
        rng.shuffle(keys)
        n_valid = round(len(keys) * valid_pct / 100.0)
        if len(keys) >= 2:  # each stratum keeps at least one group on each side
            n_valid = min(max(n_valid, 1), len(keys) - 1)
        valid_groups.update(keys[:n_valid])
    valid = sorted(i for k in valid_groups for i in groups[k])
    train = sorted(i for k, members in groups.items() if k not in valid_groups for i in members)
    return Split(train, valid, grouped_by)


def _stratum(members: list[Case], label_freq: Counter) -> str:
    """A group is stratified by its rarest label (so rare findings land on both sides)."""
    labels = {label for c in members for label in c.labels}
    return min(labels, key=lambda x: (label_freq[x], x)) if labels else ""
