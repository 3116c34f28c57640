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


def test_folds_partition_the_cases_stratified_and_equal_in_size():
    from deepq_widgets.data.splits import fold_cases

    cases = cases_with({"a": 50, "b": 30, "c": 20})
    folds = fold_cases(cases, 5, seed=0)
    assert sorted(i for part in folds.parts for i in part) == list(range(100))  # each case in exactly one fold
    assert [len(p) for p in folds.parts] == [20] * 5
    for part in folds.parts:
        assert Counter(cases[i].labels[0] for i in part) == {"a": 10, "b": 6, "c": 4}
    member = folds.split(2)
    assert member.valid == folds.parts[2] and sorted(member.train + member.valid) == list(range(100))
    assert fold_cases(cases, 5, seed=0) == folds and fold_cases(cases, 5, seed=1) != folds


def test_folds_keep_a_patient_in_one_fold_and_sizes_within_one_group():
    from deepq_widgets.data.splits import fold_cases

    cases = [Case(image=f"{i}.dcm", labels=("a" if i % 3 else "b",), patient=f"p{i // 4}") for i in range(70)]
    folds = fold_cases(cases, 3, seed=0)
    owners = [{cases[i].patient for i in part} for part in folds.parts]
    assert folds.grouped_by == "patient" and not (owners[0] & owners[1] or owners[0] & owners[2] or owners[1] & owners[2])
    assert max(map(len, folds.parts)) - min(map(len, folds.parts)) <= 4
