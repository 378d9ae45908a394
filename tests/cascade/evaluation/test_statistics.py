"""Statistics on synthetic errors: a known large phase difference is significant, identical
distributions are not; single-phase, two-phase and inter-observer cases; Holm by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cascade.evaluation.metrics import OBSERVER
from cascade.evaluation.statistics import (CONOVER, DUNN, FRIEDMAN, KRUSKAL, MANN_WHITNEY, NEMENYI, STATS_COLUMNS, WILCOXON,
                                all_statistics, compare_axes, compare_phases, compare_with_observer, holm)

CASES, LANDMARKS = 8, 6  # 48 blocks (case x landmark)


def synthetic_errors(means: dict, seed: int = 0, same_values: bool = False) -> pd.DataFrame:
    """Error rows per phase: |N(mean, mean/4)| per axis-free 3D error, plus per-axis parts."""
    rng = np.random.default_rng(seed)
    rows, shared = [], None
    for phase, mean in means.items():
        if shared is None or not same_values:
            shared = np.abs(rng.normal(mean, 1.0, (CASES, LANDMARKS)))
        for c in range(CASES):
            for n in range(LANDMARKS):
                e = shared[c, n]
                rows.append({"case": f"c{c}", "landmark": f"L{n}", "phase": phase, "status": "ok",
                             "error_mm": e, "abs_dx_mm": e * 0.8, "abs_dy_mm": e * 0.5, "abs_dz_mm": e * 0.33})
    return pd.DataFrame(rows)


def p_of(table: pd.DataFrame, test: str, a: str | None = None, b: str | None = None) -> float:
    rows = table[table.test == test]
    if a is not None:
        rows = rows[(rows.group_a == a) & (rows.group_b == b)]
    assert len(rows) == 1, table
    return float(rows.p_value.iloc[0])


def test_large_difference_between_phases_is_significant():
    stats = compare_phases(synthetic_errors({"phase1": 12.0, "phase2": 5.0, "phase3": 1.5}))
    assert list(stats.columns) == STATS_COLUMNS
    for test in (FRIEDMAN, KRUSKAL):
        assert p_of(stats, test) < 0.01
    for test in (NEMENYI, CONOVER, DUNN):
        assert p_of(stats, test, "phase1", "phase3") < 0.01
    assert (stats[stats.test == FRIEDMAN].n == CASES * LANDMARKS).all()


def test_same_distribution_is_not_significant():
    stats = compare_phases(synthetic_errors({"phase1": 3.0, "phase2": 3.0, "phase3": 3.0}, seed=1))
    assert p_of(stats, FRIEDMAN) > 0.05 and p_of(stats, KRUSKAL) > 0.05
    assert (stats[stats.test.isin([NEMENYI, DUNN])].p_value > 0.05).all()


def test_identical_values_give_p_one():
    stats = compare_phases(synthetic_errors({"phase1": 3.0, "phase2": 3.0, "phase3": 3.0}, same_values=True))
    assert (stats.p_value == 1.0).all() and (stats.test != "none").all()


def test_two_phases_use_wilcoxon_and_mann_whitney():
    stats = compare_phases(synthetic_errors({"phase1": 8.0, "phase2": 2.0}))
    assert set(stats.test) == {WILCOXON, MANN_WHITNEY}
    assert p_of(stats, WILCOXON, "phase1", "phase2") < 0.01
    same = compare_phases(synthetic_errors({"phase1": 2.0, "phase2": 2.0}, seed=3))
    assert p_of(same, WILCOXON) > 0.05 and p_of(same, MANN_WHITNEY) > 0.05


def test_single_phase_is_skipped_with_a_note():
    stats = compare_phases(synthetic_errors({"final": 2.0}))
    assert stats.test.tolist() == ["none"] and "single phase" in stats.note.iloc[0]
    assert np.isnan(stats.p_value.iloc[0])


def test_axes_compared_per_phase():
    stats = compare_axes(synthetic_errors({"phase1": 6.0, "phase2": 2.0}))
    assert set(stats.comparison) == {"axes (|dx|, |dy|, |dz|), phase1", "axes (|dx|, |dy|, |dz|), phase2"}
    assert p_of(stats[stats.comparison.str.endswith("phase1")], FRIEDMAN) < 0.01  # |dx| = 0.8 e > |dz| = 0.33 e


def test_model_vs_inter_observer():
    errors = synthetic_errors({"phase3": 6.0, OBSERVER: 1.0})
    stats = compare_with_observer(errors)
    overall = stats[stats.comparison.str.endswith("all landmarks")]
    assert p_of(overall, WILCOXON) < 0.01 and p_of(overall, MANN_WHITNEY) < 0.01
    per = stats[stats.comparison.str.contains("landmark L")]
    assert len(per) == LANDMARKS and per.test.str.contains("Holm").all() and (per.p_value < 0.05).all()
    assert compare_with_observer(synthetic_errors({"phase3": 1.0})).note.iloc[0].startswith("no second rater")
    phases = compare_phases(errors)  # the observer rows are not a model phase
    assert phases.test.tolist() == ["none"]


def test_all_statistics_concatenates():
    table = all_statistics(synthetic_errors({"phase1": 9.0, "phase2": 3.0, "phase3": 1.0, OBSERVER: 1.0}))
    assert list(table.columns) == STATS_COLUMNS
    assert {c.split(" (")[0] for c in table.comparison} >= {"phases", "axes", "model"}


def test_holm_by_hand():
    assert holm(np.array([0.01, 0.04, 0.03])) == pytest.approx([0.03, 0.06, 0.06])
    assert holm(np.array([0.5, 0.9])) == pytest.approx([1.0, 1.0])
