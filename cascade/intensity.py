"""Intensity preprocessing: a bone threshold for CT (the paper), a HU window, or robust scaling for MRI."""
from __future__ import annotations

import numpy as np

MODES = ("bone", "window", "intensity")
WINDOW_HU = (-1000.0, 2000.0)
PERCENTILES = (1.0, 99.0)


def normalise(array: np.ndarray, mode: str, bone_threshold_hu: float = 300.0) -> np.ndarray:
    """float32 network input from a scan array.

    ``bone``: 1 where HU >= ``bone_threshold_hu`` else 0 (the paper's binarisation);
    ``window``: HU clipped to [-1000, 2000] and scaled to [-1, 2] (bone stays distinct from soft tissue);
    ``intensity``: robust scaling, 1st..99th percentile of the non-background voxels -> 0..1 (MRI).
    """
    if mode == "bone":
        return (array >= bone_threshold_hu).astype(np.float32)
    if mode == "window":
        return (np.clip(array, *WINDOW_HU) / 1000.0).astype(np.float32)
    if mode == "intensity":
        sample = array[::2, ::2, ::2]
        fg = sample[sample > np.percentile(sample, 5)]
        lo, hi = np.percentile(fg if fg.size else sample, PERCENTILES)
        return ((array.astype(np.float32) - lo) / max(float(hi - lo), 1e-6)).clip(-0.5, 2.0).astype(np.float32)
    raise ValueError(f"unknown intensity mode {mode!r}; choose one of {', '.join(MODES)}")


def air_value(mode: str, bone_threshold_hu: float = 300.0) -> float:
    """The normalised value of air (-1000 HU), used to pad crops outside the scan (0 for ``intensity``)."""
    if mode == "intensity":
        return 0.0
    return float(normalise(np.array([-1000.0]), mode, bone_threshold_hu)[0])
