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
