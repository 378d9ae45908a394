"""Landmark errors (per axis and 3D, mm and pixels) and their summaries (MRE, SDR, PCK, NME).

``error_table`` gives one row per case x landmark x phase (columns: :data:`ERROR_COLUMNS`);
``summarise`` turns such a table (or the ``errors.csv`` read back) into per-phase and
per-landmark statistics. Conventions:

* ``status`` of a row: ``ok``; ``absent_in_truth`` (skipped, only counted); ``missing_prediction``
  (truth present, no estimate: a failure, no error value); ``outside_scan`` (the estimate lies
  outside the scanned volume: its error is computed and enters MRE, median, SD and max, but it
  is a failure for SDR and PCK, never "within" a threshold).
* SDR at r mm = % of landmarks present in the truth with status ok and ``error_mm <= r``
  (boundary included). PCK at t = the same with ``nme <= t``. NME = ``error_mm / normaliser``
  (1 mm by default, as the seed papers; or the per-case true distance between two landmarks).
* ``inside``: ``yes``/``no`` as in every file (``cascade.schema.yes_no``), empty without an estimate.
* ``error_px`` = ``|d / px|`` with ``px`` the pixel size in mm, one number or one per axis
  (x, y, z), e.g. ``(0.5, 0.5, 2.0)``; the paper's unit is :data:`PAPER_PX_MM` = 500/512 mm.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from cascade.schema import AXES, OK, OUTSIDE_SCAN, phase_label, yes_no
from data.landmarks import LandmarkSet

PAPER_PX_MM = 500.0 / 512.0  # the paper's pixel size: errors are also given in these pixels
SDR_MM = (2.0, 2.5, 3.0, 4.0)  # SDR radii (mm), "within" meaning error <= radius
PCK_THRESHOLDS = (1.0, 2.0, 5.0, 10.0)  # in normaliser units (mm with the default normaliser)
ABSENT, MISSING, OUTSIDE = "absent_in_truth", "missing_prediction", OUTSIDE_SCAN  # OK = cascade.schema.OK
STATUSES = (OK, ABSENT, MISSING, OUTSIDE)
OBSERVER = "inter-observer"  # phase label of a second rater's errors against the truth
ERROR_COLUMNS = ["case", "landmark", "phase", "status", "inside", "dx_mm", "dy_mm", "dz_mm", "abs_dx_mm",
                 "abs_dy_mm", "abs_dz_mm", "error_mm", "error_px", "nme"]


def radial_errors(pred: np.ndarray, truth: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """3D Euclidean distance (mm) between predicted and true points (..., 3); NaN where not present."""
    err = np.linalg.norm(np.asarray(pred, float) - np.asarray(truth, float), axis=-1)
    if present is not None:
        err = np.where(np.asarray(present, bool), err, np.nan)
    return err


def mre(errors_mm: Iterable[float]) -> float:
    """Mean radial error, the one definition every report uses: the mean of the 3D errors of every
    (case, landmark) with a truth and an estimate, pooled (not a mean of per-case means); NaN
    values (no truth or no estimate) are left out; NaN when nothing is left."""
    e = np.asarray(list(errors_mm) if not isinstance(errors_mm, np.ndarray) else errors_mm, float).ravel()
    e = e[np.isfinite(e)]
    return float(e.mean()) if e.size else float("nan")


def mean_radial_error(pred: np.ndarray, truth: np.ndarray, present: np.ndarray | None = None) -> float:
    """``mre`` of ``radial_errors``: arrays (..., 3) of one case or stacked cases (pooled)."""
    return mre(radial_errors(pred, truth, present))


def phase_mre(errors: pd.DataFrame) -> dict:
    """``mre`` per phase label of an error table (``error_table`` rows), in reading order."""
    return {p: mre(errors.loc[errors["phase"] == p, "error_mm"].to_numpy(float)) for p in ordered_phases(errors["phase"])}


def pixel_errors(d_mm: np.ndarray, px_mm: float | Sequence[float] = PAPER_PX_MM) -> np.ndarray:
    """3D error in pixels of ``px_mm`` (one size, or one per axis x, y, z) of offsets ``d_mm`` (..., 3)."""
    px = np.broadcast_to(np.asarray(px_mm, float), (3,))
    if not np.all(px > 0):
        raise ValueError(f"pixel sizes must be positive, got {px_mm!r}")
    return np.linalg.norm(np.asarray(d_mm, float) / px, axis=-1)


def normaliser_mm(truth: LandmarkSet, normaliser: float | tuple[str, str] = 1.0) -> float:
    """NME denominator in mm: a number, or the distance between two landmarks of ``truth`` (NaN if absent)."""
    if isinstance(normaliser, (int, float)):
        if normaliser <= 0:
            raise ValueError(f"normaliser must be positive, got {normaliser}")
        return float(normaliser)
    a, b = normaliser
    t = truth.subset([a, b], missing_ok=True)
    return float(np.linalg.norm(t.coords[0] - t.coords[1])) if t.present.all() else float("nan")


def error_table(names: Sequence[str], estimates: np.ndarray, truth: LandmarkSet,
                px_mm: float | Sequence[float] = PAPER_PX_MM, *, phases: Sequence | None = None,
                inside: np.ndarray | None = None, case: str = "",
                normaliser: float | tuple[str, str] = 1.0) -> pd.DataFrame:
    """One row per landmark x phase with signed/absolute x, y, z errors (LPS mm), 3D error (mm, px), NME.

    ``estimates`` (phases, N, 3) in the order of ``names`` (NaN rows = no estimate); ``truth`` a
    LandmarkSet in any order (landmarks absent from it give ``absent_in_truth`` rows without
    errors). ``phases`` labels the phases (default ``phase1``, ``phase2``, ...: ``cascade.schema``). ``inside`` says whether each
    estimate lies inside the scan, shape (N,) for the last phase only (the final estimate; the
    others count as inside) or (phases, N); default all inside.
    """
    est = np.asarray(estimates, float).reshape(-1, len(names), 3)
    labels = list(phases) if phases is not None else [phase_label(p) for p in range(1, len(est) + 1)]
    if len(labels) != len(est):
        raise ValueError(f"{len(labels)} phase labels for {len(est)} phases")
    flags = np.ones(est.shape[:2], bool)
    if inside is not None:
        inside = np.asarray(inside, bool)
        if inside.ndim == 1:
            flags[-1] = inside
        else:
            flags[:] = inside
    t = truth.subset(list(names), missing_ok=True)
    norm = normaliser_mm(truth, normaliser)
    d = est - t.coords  # (P, N, 3), NaN where either side is unknown
    have = np.all(np.isfinite(est), axis=-1)
    status = np.where(~t.present, ABSENT, np.where(~have, MISSING, np.where(~flags, OUTSIDE, OK)))
    d[~(have & t.present)] = np.nan
    err = np.linalg.norm(d, axis=-1)
    frame = pd.DataFrame({
        "case": case,
        "landmark": np.tile(list(names), len(labels)),
        "phase": np.repeat(np.array(labels, dtype=object), len(names)),
        "status": status.ravel(),
        "inside": np.where(have, np.array(yes_no(flags.ravel()), object).reshape(flags.shape), None).ravel(),
        **{f"d{a}_mm": d[..., i].ravel() for i, a in enumerate(AXES)},
        **{f"abs_d{a}_mm": np.abs(d[..., i]).ravel() for i, a in enumerate(AXES)},
        "error_mm": err.ravel(),
        "error_px": pixel_errors(d, px_mm).ravel(),
        "nme": err.ravel() / norm,
    })
    return frame[ERROR_COLUMNS]


def within(errors: pd.DataFrame, threshold: float, column: str = "error_mm") -> pd.Series:
    """Per row: status ok and ``column <= threshold`` (outside-scan and missing rows never are)."""
    return (errors["status"] == OK) & (errors[column] <= threshold)


def _label(value: float) -> str:
    return f"{value:g}"


def sdr_column(radius_mm: float) -> str:
    """Summary column name of the SDR at ``radius_mm`` (a percentage; within means <=)."""
    return f"sdr_le_{_label(radius_mm)}mm_pct"


def pck_column(threshold: float) -> str:
    """Summary column name of the PCK at ``threshold`` (normaliser units; a percentage)."""
    return f"pck_le_{_label(threshold)}_pct"


def summary_row(errors: pd.DataFrame, sdr_mm: Iterable[float] = SDR_MM,
                pck: Iterable[float] = PCK_THRESHOLDS) -> dict:
    """Counts, MRE/median/SD (n-1)/max (mm), MRE in px, mean |error| per axis, SDR %, PCK %, mean NME."""
    counted = errors[errors["status"] != ABSENT]  # landmarks present in the truth
    value = counted.dropna(subset=["error_mm"])  # ok and outside-scan rows
    e = value["error_mm"].to_numpy(float)
    n = len(counted)
    row = {"n": n, "n_evaluated": len(value), **{f"n_{s}": int((errors["status"] == s).sum()) for s in STATUSES[1:]},
           "mre_mm": mre(e), "median_mm": np.median(e) if len(e) else np.nan,
           "sd_mm": e.std(ddof=1) if len(e) > 1 else np.nan, "max_mm": e.max() if len(e) else np.nan,
           "mre_px": value["error_px"].mean() if len(e) else np.nan}
    row.update({f"mae_{a}_mm": value[f"abs_d{a}_mm"].mean() if len(e) else np.nan for a in AXES})
    row.update({sdr_column(r): 100.0 * within(counted, r).sum() / n if n else np.nan for r in sdr_mm})
    row.update({pck_column(t): 100.0 * within(counted, t, "nme").sum() / n if n else np.nan for t in pck})
    row["nme"] = value["nme"].mean() if len(e) else np.nan
    return row


def summarise(errors: pd.DataFrame, sdr_mm: Iterable[float] = SDR_MM, pck: Iterable[float] = PCK_THRESHOLDS,
              ) -> pd.DataFrame:
    """Per phase: one ``landmark == "all"`` row (every case and landmark), then one row per landmark."""
    sdr_mm, pck = list(sdr_mm), list(pck)
    rows = []
    for phase in ordered_phases(errors["phase"]):
        sub = errors[errors["phase"] == phase]
        rows.append({"phase": phase, "landmark": "all", **summary_row(sub, sdr_mm, pck)})
        for name in pd.unique(sub["landmark"]):
            rows.append({"phase": phase, "landmark": name, **summary_row(sub[sub["landmark"] == name], sdr_mm, pck)})
    return pd.DataFrame(rows)


def cumulative_share(errors: pd.DataFrame, distances_mm: Sequence[float]) -> np.ndarray:
    """% of landmarks present in the truth found within each distance (the cumulative error curve)."""
    counted = errors[errors["status"] != ABSENT]
    if not len(counted):
        return np.full(len(distances_mm), np.nan)
    return np.array([100.0 * within(counted, d).sum() / len(counted) for d in distances_mm])


def ordered_phases(labels: Iterable) -> list:
    """Distinct phase labels in reading order: numbers / ``phaseN`` by N, others as first seen, inter-observer last."""
    seen = list(pd.unique(pd.Series(list(labels), dtype=object)))

    def key(label) -> tuple:
        text = str(label)
        digits = text[5:] if text.startswith("phase") else text
        return (0, int(digits)) if digits.isdigit() else (2, 0) if text == OBSERVER else (1, 0)

    return sorted(seen, key=key)  # sorted() is stable: non-numbered labels keep their first-seen order
