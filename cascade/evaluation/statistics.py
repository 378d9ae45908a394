"""Significance tests on an error table (``cascade.evaluation.metrics.error_table`` rows, or ``errors.csv``).

* Phases on the same landmarks: paired, blocks = case x landmark, groups = phases, value =
  ``error_mm``: Friedman, then Nemenyi and Conover (Holm-adjusted) post-hoc tests; also
  Kruskal-Wallis then Dunn with Holm correction (unpaired: the paper's multiple comparisons).
  With two groups: Wilcoxon signed-rank (paired) and Mann-Whitney U (unpaired) instead.
* Axes: the same tests on ``abs_dx_mm`` / ``abs_dy_mm`` / ``abs_dz_mm``, for each phase.
* Model vs inter-observer gap (rows of phase :data:`~cascade.evaluation.metrics.OBSERVER`): the last
  model phase against it, Wilcoxon signed-rank on the case x landmark pairs where both exist,
  Mann-Whitney U overall and per landmark (per-landmark p-values Holm-adjusted over landmarks).

Rows with an error value (status ok or outside_scan) enter the tests; paired tests keep only
blocks complete in every group. Results are long tables (:data:`STATS_COLUMNS`, two-sided
p-values); a comparison that cannot run (a single phase, too few values) is one row with a
``note`` and no p-value. When every value is tied the p-value is 1.
"""
from __future__ import annotations

import warnings
from itertools import combinations
from typing import Callable

import numpy as np
import pandas as pd
import scikit_posthocs as sp
from scipy import stats

from cascade.evaluation.metrics import AXES, OBSERVER, ordered_phases

STATS_COLUMNS = ["test", "comparison", "group_a", "group_b", "statistic", "p_value", "n", "note"]
ALL = "all"  # group_a of an omnibus test (all groups at once)

FRIEDMAN = "Friedman chi-square (paired)"
NEMENYI = "Nemenyi post-hoc after Friedman"
CONOVER = "Conover post-hoc after Friedman, Holm-adjusted"
KRUSKAL = "Kruskal-Wallis H (unpaired)"
DUNN = "Dunn post-hoc after Kruskal-Wallis, Holm-adjusted"
WILCOXON = "Wilcoxon signed-rank (paired)"
MANN_WHITNEY = "Mann-Whitney U (unpaired)"


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    p = np.asarray(p_values, float)
    order = np.argsort(p)
    scaled = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order])
    out = np.empty_like(p)
    out[order] = np.minimum(scaled, 1.0)
    return out


def _row(test: str, comparison: str, a: str, b: str, statistic: float, p: float, n: int, note: str = "") -> dict:
    return {"test": test, "comparison": comparison, "group_a": a, "group_b": b, "statistic": float(statistic),
            "p_value": float(p), "n": int(n), "note": note}


def _skip(comparison: str, note: str) -> list[dict]:
    return [{"test": "none", "comparison": comparison, "group_a": "", "group_b": "", "statistic": np.nan,
             "p_value": np.nan, "n": 0, "note": note}]


def _tied(groups: list[np.ndarray], paired: bool) -> bool:
    """Nothing to rank: paired, every block has one value in all groups; unpaired, all values are equal."""
    if paired:
        return all(np.array_equal(g, groups[0]) for g in groups)
    values = np.concatenate([np.ravel(g) for g in groups])
    return values.size > 0 and bool(np.all(values == values[0]))


def _quiet(func: Callable, *args, **kwargs):
    """Call ``func`` with NumPy's divide-by-zero / invalid-value warnings silenced (ties, perfect separation)."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return func(*args, **kwargs)


def _omnibus(test: str, func: Callable, comparison: str, groups: list[np.ndarray], n: int, paired: bool) -> dict:
    """One omnibus or two-group test; statistic 0 and p = 1 when the values are tied (see ``_tied``)."""
    a = ALL if len(groups) > 2 else ""
    if _tied(groups, paired):
        return _row(test, comparison, a, "", 0.0, 1.0, n, "all values tied")
    res = _quiet(func, *groups)
    return _row(test, comparison, a, "", res.statistic, res.pvalue, n)


def _pairs(test: str, comparison: str, matrix: pd.DataFrame, n_of: Callable[[str, str], int], tied: bool,
           ) -> list[dict]:
    """Upper triangle of a post-hoc p-value matrix as rows (no statistic; ``n_of(a, b)`` values used)."""
    return [_row(test, comparison, a, b, np.nan, 1.0 if tied else matrix.loc[a, b], n_of(a, b))
            for a, b in combinations(list(matrix.columns), 2)]


def compare_groups(values: pd.DataFrame, comparison: str) -> pd.DataFrame:
    """All tests on a blocks x groups table (NaN = no value): paired on complete blocks, unpaired on all.

    Column order names the groups. Two groups: Wilcoxon + Mann-Whitney; three or more: Friedman +
    Nemenyi + Conover (Holm) and Kruskal-Wallis + Dunn (Holm).
    """
    values = values.astype(float)
    groups = [str(c) for c in values.columns]
    values.columns = groups
    if len(groups) < 2:
        return pd.DataFrame(_skip(comparison, f"only one group ({', '.join(groups) or 'none'}): nothing to compare"),
                            columns=STATS_COLUMNS)
    complete = values.dropna()
    unpaired = [values[g].dropna().to_numpy() for g in groups]
    rows: list[dict] = []
    if len(complete) >= 2:
        cols = [complete[g].to_numpy() for g in groups]
        if len(groups) == 2:
            rows.append(_omnibus(WILCOXON, stats.wilcoxon, comparison, cols, len(complete), True))
            rows[-1].update(group_a=groups[0], group_b=groups[1])
        else:
            rows.append(_omnibus(FRIEDMAN, stats.friedmanchisquare, comparison, cols, len(complete), True))
            tied, blocks = _tied(cols, True), (lambda a, b: len(complete))
            rows += _pairs(NEMENYI, comparison, _quiet(sp.posthoc_nemenyi_friedman, complete), blocks, tied)
            rows += _pairs(CONOVER, comparison, _quiet(sp.posthoc_conover_friedman, complete, p_adjust="holm"),
                           blocks, tied)
    else:
        rows += _skip(comparison, f"paired tests need 2 complete blocks, found {len(complete)}")
    if all(len(u) >= 1 for u in unpaired) and sum(len(u) for u in unpaired) > len(groups):
        total = sum(len(u) for u in unpaired)
        if len(groups) == 2:
            rows.append(_omnibus(MANN_WHITNEY, lambda a, b: stats.mannwhitneyu(a, b, alternative="two-sided"),
                                 comparison, unpaired, total, False))
            rows[-1].update(group_a=groups[0], group_b=groups[1])
        else:
            rows.append(_omnibus(KRUSKAL, stats.kruskal, comparison, unpaired, total, False))
            long = values.melt(var_name="group", value_name="value").dropna()
            dunn = _quiet(sp.posthoc_dunn, long, val_col="value", group_col="group", p_adjust="holm", sort=False)
            sizes = {g: len(u) for g, u in zip(groups, unpaired)}
            rows += _pairs(DUNN, comparison, dunn, lambda a, b: sizes[a] + sizes[b], _tied(unpaired, False))
    else:
        rows += _skip(comparison, "unpaired tests need values in every group")
    return pd.DataFrame(rows, columns=STATS_COLUMNS)


def _valued(errors: pd.DataFrame) -> pd.DataFrame:
    return errors.dropna(subset=["error_mm"])


def model_phases(errors: pd.DataFrame) -> list:
    """Phase labels of the model (every phase but the inter-observer rows), in reading order."""
    return [p for p in ordered_phases(errors["phase"]) if p != OBSERVER]


def compare_phases(errors: pd.DataFrame) -> pd.DataFrame:
    """Phases compared on ``error_mm`` (blocks = case x landmark); a note row when there is one phase."""
    phases = model_phases(errors)
    comparison = f"phases ({', '.join(map(str, phases))}), 3D error"
    if len(phases) < 2:
        return pd.DataFrame(_skip(comparison, "single phase: phase comparison skipped"), columns=STATS_COLUMNS)
    sub = _valued(errors[errors["phase"].isin(phases)])
    table = sub.pivot_table(index=["case", "landmark"], columns="phase", values="error_mm", aggfunc="first")
    return compare_groups(table.reindex(columns=phases), comparison)


def compare_axes(errors: pd.DataFrame) -> pd.DataFrame:
    """For each model phase: |error| along x, y and z compared (blocks = case x landmark)."""
    frames = []
    for phase in model_phases(errors):
        sub = _valued(errors[errors["phase"] == phase]).set_index(["case", "landmark"])
        table = pd.DataFrame({a: sub[f"abs_d{a}_mm"] for a in AXES})
        frames.append(compare_groups(table, f"axes (|dx|, |dy|, |dz|), {phase}"))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=STATS_COLUMNS)


def compare_with_observer(errors: pd.DataFrame) -> pd.DataFrame:
    """The last model phase against the inter-observer gap: overall (paired and unpaired), per landmark."""
    phases = model_phases(errors)
    if OBSERVER not in set(errors["phase"]) or not phases:
        return pd.DataFrame(_skip("model vs inter-observer", "no second rater: comparison skipped"),
                            columns=STATS_COLUMNS)
    model, valued = phases[-1], _valued(errors)
    table = valued[valued["phase"].isin([model, OBSERVER])].pivot_table(
        index=["case", "landmark"], columns="phase", values="error_mm", aggfunc="first", sort=False).reindex(columns=[model, OBSERVER])
    overall = compare_groups(table, f"model ({model}) vs inter-observer, all landmarks")
    per = []
    for name, group in table.groupby(level="landmark", sort=False):
        a, b = group[model].dropna().to_numpy(), group[OBSERVER].dropna().to_numpy()
        if len(a) and len(b):
            per.append(_omnibus(MANN_WHITNEY + ", Holm-adjusted over landmarks",
                                lambda x, y: stats.mannwhitneyu(x, y, alternative="two-sided"),
                                f"model ({model}) vs inter-observer, landmark {name}", [a, b], len(a) + len(b), False))
            per[-1].update(group_a=model, group_b=OBSERVER)
    if per:
        adjusted = holm(np.array([r["p_value"] for r in per]))
        for r, p in zip(per, adjusted):
            r["p_value"] = float(p)
    return pd.concat([overall, pd.DataFrame(per, columns=STATS_COLUMNS)], ignore_index=True)


def all_statistics(errors: pd.DataFrame) -> pd.DataFrame:
    """Phases, axes and model vs inter-observer: the ``stats.csv`` table."""
    return pd.concat([compare_phases(errors), compare_axes(errors), compare_with_observer(errors)], ignore_index=True)


def significant(table: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Rows of a statistics table with ``p_value < alpha``."""
    return table[table["p_value"] < alpha]
