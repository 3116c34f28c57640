"""Train/validation splits and k folds: stratified by class, grouped by patient or study.

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
    grouped_by, groups, strata = _grouped(cases)
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


@dataclass(frozen=True)
class Folds:
    """k disjoint parts of the cases, stratified and grouped as a split is; member i of a k-fold ensemble
    trains on every part but part i, which it is scored on."""

    parts: list[list[int]]
    grouped_by: str

    def split(self, i: int) -> Split:
        train = sorted(j for k, part in enumerate(self.parts) if k != i for j in part)
        return Split(train, list(self.parts[i]), self.grouped_by)


def fold_cases(cases: Sequence[Case], k: int, seed: int = 0) -> Folds:
    """k folds: within each stratum the shuffled groups are dealt in turn, the deal going on across strata,
    so that folds differ in size by at most one group and every fold holds each class where it can."""
    grouped_by, groups, strata = _grouped(cases)
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(k)]
    dealt = 0
    for name in sorted(strata):
        keys = sorted(strata[name])
        rng.shuffle(keys)
        for key in keys:
            parts[dealt % k].extend(groups[key])
            dealt += 1
    return Folds([sorted(p) for p in parts], grouped_by)


def _grouped(cases: Sequence[Case]) -> tuple[str, dict[str, list[int]], dict[str, list[str]]]:
    """How cases are grouped (patient, study or one by one), the groups, and the groups of each stratum."""
    grouped_by = "patient" if any(c.patient for c in cases) else "study" if any(c.study for c in cases) else "case"
    groups: dict[str, list[int]] = defaultdict(list)
    for i, case in enumerate(cases):
        key = {"patient": case.patient, "study": case.study}.get(grouped_by) or f"case:{i}"
        groups[key].append(i)
    label_freq = Counter(label for c in cases for label in set(c.labels))
    strata: dict[str, list[str]] = defaultdict(list)
    for key, members in groups.items():
        strata[_stratum([cases[i] for i in members], label_freq)].append(key)
    return grouped_by, groups, strata


def _stratum(members: list[Case], label_freq: Counter) -> str:
    """A group is stratified by its rarest label (so rare findings land on both sides)."""
    labels = {label for c in members for label in c.labels}
    return min(labels, key=lambda x: (label_freq[x], x)) if labels else ""
