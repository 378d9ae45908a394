"""Landmark errors in millimetres (per axis and 3D); the evaluation module builds on these."""
from __future__ import annotations

import numpy as np


def radial_errors(pred: np.ndarray, truth: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """3D Euclidean distance (mm) between predicted and true points (..., 3); NaN where not present."""
    err = np.linalg.norm(np.asarray(pred, float) - np.asarray(truth, float), axis=-1)
    if present is not None:
        err = np.where(np.asarray(present, bool), err, np.nan)
    return err


def mean_radial_error(pred: np.ndarray, truth: np.ndarray, present: np.ndarray | None = None) -> float:
    """Mean over present landmarks of ``radial_errors`` (NaN when none is present)."""
    err = radial_errors(pred, truth, present)
    return float(np.nanmean(err)) if np.isfinite(err).any() else float("nan")


PAPER_PX_MM = 500.0 / 512.0  # the paper's pixel size: errors are also given in these pixels


def error_table(names: list[str], estimates: np.ndarray, truth, px_mm: float = PAPER_PX_MM):
    """One row per landmark x phase: signed errors along x, y, z (LPS mm), 3D error in mm and px.

    ``estimates`` (phases, N, 3) in the order of ``names``; ``truth`` a LandmarkSet (any order;
    landmarks absent from it are skipped).
    """
    import pandas as pd

    t = truth.subset(names, missing_ok=True)
    rows = []
    for p, est in enumerate(np.asarray(estimates, float), 1):
        d = est - t.coords
        for n, name in enumerate(names):
            if not t.present[n]:
                continue
            e = float(np.linalg.norm(d[n]))
            rows.append({"landmark": name, "phase": p, "dx_mm": d[n, 0], "dy_mm": d[n, 1], "dz_mm": d[n, 2],
                         "error_mm": e, "error_px": e / px_mm})
    return pd.DataFrame(rows, columns=["landmark", "phase", "dx_mm", "dy_mm", "dz_mm", "error_mm", "error_px"])
