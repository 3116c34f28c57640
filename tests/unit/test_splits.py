from collections import Counter

import pytest

from deepq_widgets.data.cases import Case
from deepq_widgets.data.splits import split_cases


def cases_with(n_per_class, studies_per=1):
    out = []
    for label, n in n_per_class.items():
        for i in range(n):
            out.append(Case(image=f"{label}{i}.png", labels=(label,), study=f"{label}-s{i // studies_per}" if studies_per > 1 else None))
    return out


def test_stratified_by_class_with_the_requested_share():
    cases = cases_with({"a": 50, "b": 10})
    split = split_cases(cases, valid_pct=20, seed=0)
    valid = Counter(cases[i].labels[0] for i in split.valid)
    assert valid == {"a": 10, "b": 2}
    assert sorted(split.train + split.valid) == list(range(60)) and split.grouped_by == "case"


def test_same_seed_same_split_other_seed_other_split():
    cases = cases_with({"a": 40, "b": 40})
    assert split_cases(cases, 25, seed=1) == split_cases(cases, 25, seed=1)
    assert split_cases(cases, 25, seed=1).valid != split_cases(cases, 25, seed=2).valid


def test_studies_never_cross_sides():
    cases = cases_with({"a": 40, "b": 40}, studies_per=4)
    split = split_cases(cases, 20, seed=3)
    train_studies = {cases[i].study for i in split.train}
    valid_studies = {cases[i].study for i in split.valid}
    assert split.grouped_by == "study" and not train_studies & valid_studies and valid_studies
    assert "split by study" in split.notice()


def test_patient_wins_over_study():
    cases = [Case(image=f"{i}.dcm", labels=("a" if i % 2 else "b",), study=f"s{i}", patient=f"p{i // 6}") for i in range(60)]
    split = split_cases(cases, 30, seed=0)
    assert split.grouped_by == "patient"
    assert not {cases[i].patient for i in split.train} & {cases[i].patient for i in split.valid}


@pytest.mark.parametrize("pct", [1, 99])
def test_extreme_percentages_keep_both_sides(pct):
    split = split_cases(cases_with({"a": 10, "b": 10}), pct, seed=0)
    assert split.train and split.valid


def test_multi_label_rare_label_reaches_validation():
    cases = [Case(image=f"{i}.png", labels=("common",) + (("rare",) if i < 6 else ())) for i in range(60)]
    split = split_cases(cases, 20, seed=0)
    assert any("rare" in cases[i].labels for i in split.valid) and any("rare" in cases[i].labels for i in split.train)
