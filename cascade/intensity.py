"""Intensity preprocessing: a bone threshold for CT (the paper), a HU window, or robust scaling for MRI.

All modes are pointwise given a per-scan ``value_range`` (only ``intensity`` uses it), so crops
can be normalised after cutting them: the whole scan is never copied per phase.
"""
from __future__ import annotations

import numpy as np

MODES = ("bone", "window", "intensity")
# defaults only: a bundle's config holds the values its models were trained with
WINDOW_HU = (-1000.0, 2000.0)
PERCENTILES = (1.0, 99.0)


def intensity_range(array: np.ndarray, percentiles: tuple[float, float] = PERCENTILES) -> tuple[float, float]:
    """``percentiles`` (default 1st and 99th) of the non-background voxels (every 2nd voxel), for ``intensity``."""
    sample = np.asarray(array[::2, ::2, ::2], np.float32)
    fg = sample[sample > np.percentile(sample, 5)]
    lo, hi = np.percentile(fg if fg.size else sample, percentiles)
    return float(lo), float(hi)


def normalise(array: np.ndarray, mode: str, bone_threshold_hu: float = 300.0,
              value_range: tuple[float, float] | None = None,
              window_hu: tuple[float, float] = WINDOW_HU) -> np.ndarray:
    """float32 network input from scan values.

    ``bone``: 1 where HU >= ``bone_threshold_hu`` else 0 (the paper's binarisation);
    ``window``: HU clipped to ``window_hu`` (default [-1000, 2000]) and divided by 1000 ([-1, 2]) (bone stays distinct from soft tissue);
    ``intensity``: ``value_range`` (lo, hi) -> 0..1, clipped to [-0.5, 2] (MRI); the range is
    taken from ``array`` itself when not given.
    """
    if mode == "bone":
        return (array >= bone_threshold_hu).astype(np.float32)
    if mode == "window":
        return (np.clip(np.asarray(array, np.float32), *window_hu) / 1000.0).astype(np.float32)
    if mode == "intensity":
        lo, hi = value_range if value_range is not None else intensity_range(array)
        return ((np.asarray(array, np.float32) - lo) / max(hi - lo, 1e-6)).clip(-0.5, 2.0).astype(np.float32)
    raise ValueError(f"unknown intensity mode {mode!r}; choose one of {', '.join(MODES)}")
