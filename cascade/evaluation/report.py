"""``report.md``: a short, skimmable summary of an evaluation (tables, significant tests, figures)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from cascade.evaluation.metrics import MISSING, OBSERVER, OUTSIDE, SDR_MM, sdr_column
from cascade.evaluation.statistics import CONOVER, DUNN, FRIEDMAN, KRUSKAL, MANN_WHITNEY, NEMENYI, WILCOXON
from data.atomic import atomic_open


def markdown_table(frame: pd.DataFrame, digits: int = 2) -> str:
    """A GitHub-markdown table; floats rounded to ``digits``, NaN shown as ``-``."""
    def cell(v) -> str:
        if isinstance(v, (float, np.floating)):
            return "-" if np.isnan(v) else f"{v:.{digits}f}"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


SHORT = {FRIEDMAN: "Friedman", KRUSKAL: "Kruskal-Wallis", WILCOXON: "Wilcoxon", MANN_WHITNEY: "Mann-Whitney",
         NEMENYI: "Nemenyi", CONOVER: "Conover", DUNN: "Dunn"}
OMNIBUS = (FRIEDMAN, KRUSKAL, WILCOXON, MANN_WHITNEY)


def _p(p: float) -> str:
    if np.isnan(p):
        return "-"
    if p == 0:
        return "~0"  # below floating-point resolution
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def comparison_lines(stats: pd.DataFrame, alpha: float = 0.05) -> list[str]:
    """One bullet per comparison: omnibus p-values (bold when < alpha), then the significant pairs."""
    lines = []
    for comparison, rows in stats.groupby("comparison", sort=False):
        if ", landmark " in comparison:  # per-landmark tests: counted in the inter-observer section
            continue
        if (rows["test"] == "none").all():
            lines.append(f"- {comparison}: not run ({'; '.join(rows['note'])})")
            continue
        tests = [f"{SHORT[r.test]} " + (f"**p = {_p(r.p_value)}**" if r.p_value < alpha else f"p = {_p(r.p_value)}")
                 + f" (n = {r.n})" for r in rows.itertuples() if r.test in OMNIBUS]
        pairs = rows[~rows["test"].isin(OMNIBUS + ("none",))]
        sig = [f"{a} vs {b} (" + ", ".join(f"{SHORT[r.test]} {_p(r.p_value)}" for r in g.itertuples()) + ")"
               for (a, b), g in pairs.groupby(["group_a", "group_b"], sort=False) if (g["p_value"] < alpha).any()]
        line = f"- {comparison}: " + ", ".join(tests)
        if len(pairs):
            line += f"; pairs with p < {alpha:g}: " + ("; ".join(sig) if sig else "none")
        lines.append(line + "".join(f"; {n}" for n in rows["note"] if n))
    return lines


def overall_table(summary: pd.DataFrame, sdr_mm: Sequence[float] = SDR_MM) -> pd.DataFrame:
    """One row per phase: n, MRE/median/SD/max (mm), MRE (px), SDR %, failures and skipped counts."""
    rows = summary[summary["landmark"] == "all"]
    table = pd.DataFrame({"phase": rows["phase"], "n": rows["n"], "MRE mm": rows["mre_mm"],
                          "median": rows["median_mm"], "SD": rows["sd_mm"], "max": rows["max_mm"],
                          "MRE px": rows["mre_px"]})
    for r in sdr_mm:
        table[f"SDR <={r:g} mm %"] = rows[sdr_column(r)]
    table["outside scan"] = rows["n_outside_scan"]
    table["missing"] = rows["n_missing_prediction"]
    table["absent in truth"] = rows["n_absent_in_truth"]
    return table.reset_index(drop=True)


def landmark_table(summary: pd.DataFrame, descriptions: dict[str, str] | None = None) -> pd.DataFrame:
    """MRE (mm) per landmark (rows) and phase (columns), with the truth's description when there is one."""
    per = summary[summary["landmark"] != "all"]
    table = per.pivot_table(index="landmark", columns="phase", values="mre_mm", aggfunc="first", sort=False)
    phases = list(pd.unique(per["phase"]))
    table = table.reindex(index=list(pd.unique(per["landmark"])), columns=phases)
    table.columns = [f"{p} MRE mm" for p in phases]
    table = table.reset_index()
    if descriptions:
        table.insert(1, "description", [descriptions.get(n, "") for n in table["landmark"]])
    return table


def failure_lines(errors: pd.DataFrame, limit: int = 20) -> list[str]:
    """Which predictions were outside the scan or missing (case: landmark, phase), at most ``limit`` each."""
    lines = []
    for status, label in ((OUTSIDE, "Outside the scan"), (MISSING, "Missing predictions")):
        rows = errors[errors["status"] == status]
        if len(rows):
            items = [f"{r.case}: {r.landmark} ({r.phase})" if r.case else f"{r.landmark} ({r.phase})"
                     for r in rows.head(limit).itertuples()]
            more = f", ... ({len(rows)} in all)" if len(rows) > limit else ""
            lines.append(f"- {label} (failures): " + ", ".join(items) + more)
    return lines


def _observer_lines(summary: pd.DataFrame, stats: pd.DataFrame, alpha: float) -> list[str]:
    phases = [p for p in pd.unique(summary["phase"]) if p != OBSERVER]
    if OBSERVER not in set(summary["phase"]) or not phases:
        return ["No second rater given (`--second-rater`): no inter-observer comparison."]
    model = phases[-1]
    overall = summary[summary["landmark"] == "all"].set_index("phase")["mre_mm"]
    per = summary[summary["landmark"] != "all"].pivot_table(index="landmark", columns="phase", values="mre_mm",
                                                              aggfunc="first")
    both = per[[model, OBSERVER]].dropna() if model in per else per.iloc[:0]
    lines = [f"Inter-observer gap (second rater vs truth): MRE **{overall[OBSERVER]:.2f} mm**; model ({model}): "
             f"**{overall[model]:.2f} mm** (ratio {overall[model] / overall[OBSERVER]:.2f}). "
             f"The model is closer to the truth than the second rater on {int((both[model] < both[OBSERVER]).sum())} "
             f"of {len(both)} landmarks."]
    tests = stats[stats["comparison"].str.startswith("model (") & stats["comparison"].str.endswith("all landmarks")]
    lines += [f"- {r.test}: p = {_p(r.p_value)} (n = {r.n})" + (f"; {r.note}" if r.note else "")
              for r in tests.itertuples() if r.test != "none"]
    per = stats[stats["comparison"].str.contains(", landmark ", regex=False)]
    if len(per):
        sig = per[per["p_value"] < alpha]
        lines.append(f"- Per landmark (Mann-Whitney U, Holm-adjusted): {len(sig)} of {len(per)} landmarks differ at "
                     f"p < {alpha:g}" + (": " + ", ".join(c.split(", landmark ")[1] for c in sig["comparison"]) if len(sig) else "")
                     + ".")
    return lines


def write_report_md(path: str | Path, result, summary: pd.DataFrame, stats: pd.DataFrame, figures: dict[str, Path],
                    sdr_mm: Sequence[float] = SDR_MM, alpha: float = 0.05) -> Path:
    """Write ``report.md`` (atomically) for an ``Evaluation`` and its summary and statistics tables."""
    errors = result.errors
    cases, names = errors["case"].nunique(), errors["landmark"].nunique()
    parts = ["# Landmark evaluation", ""]
    parts += [f"- {k}: `{v}`" for k, v in result.inputs.items()]
    parts += [f"- {cases} case(s), {names} landmark(s), phases: {', '.join(map(str, pd.unique(summary['phase'])))}",
              "- Errors in LPS mm. SDR at r = % of landmarks present in the truth with error **<= r** mm; "
              "predictions outside the scan and missing predictions count as failures (never within r); "
              "landmarks absent from the truth are skipped and counted. MRE, median, SD (n-1) and max include "
              "outside-scan predictions.", ""]
    if result.notes:
        parts += ["Notes:", ""] + [f"- {n}" for n in result.notes] + [""]
    parts += ["## Overall", "", markdown_table(overall_table(summary, sdr_mm)), ""]
    failures = failure_lines(errors)
    parts += failures + ([""] if failures else [])
    parts += ["## Per landmark", "", markdown_table(landmark_table(summary, result.descriptions)), ""]
    parts += ["## Inter-observer", ""] + _observer_lines(summary, stats, alpha) + [""]
    parts += [f"## Comparisons (p < {alpha:g} in bold)", ""] + comparison_lines(stats, alpha)
    parts += ["", f"Every test with its p-value: `stats.csv` ({len(stats)} rows; post-hoc p-values as named there).",
              ""]
    if figures:
        parts += ["## Figures", ""] + [f"![{kind}]({p.as_posix()})" for kind, p in figures.items()] + [""]
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(parts))
    return Path(path)
