"""``phases.dataset.split_cases``: by case, seeded, folds partition the cases."""
import pytest

from phases.dataset import split_cases

IDS = [f"case{n}" for n in range(10)]


def test_random_split_is_seeded_disjoint_and_complete():
    train, val = split_cases(IDS, 0.2, seed=3)
    assert len(val) == 2 and not set(train) & set(val) and sorted(train + val) == list(range(10))
    assert split_cases(IDS, 0.2, seed=3) == (train, val)
    assert split_cases(IDS, 0.2, seed=4) != (train, val)


def test_folds_partition_the_cases():
    vals = [split_cases(IDS, folds=5, fold=f, seed=1)[1] for f in range(5)]
    assert sorted(i for v in vals for i in v) == list(range(10))
    for f, v in enumerate(vals):
        train, _ = split_cases(IDS, folds=5, fold=f, seed=1)
        assert not set(train) & set(v) and len(train) + len(v) == 10


def test_impossible_fold_is_an_error():
    with pytest.raises(ValueError, match="fold 5 of 5"):
        split_cases(IDS, folds=5, fold=5)
    with pytest.raises(ValueError):
        split_cases(IDS[:3], folds=4, fold=0)


def test_small_sets_keep_a_training_case():
    assert split_cases(["a"], 0.5) == ([0], [])
    train, val = split_cases(["a", "b"], 0.9)
    assert len(train) == 1 and len(val) == 1
