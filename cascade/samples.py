"""Network inputs for each phase, and training samples cut on the fly (never written to disk).

A ``Case`` holds one scan as a *working volume* (canonical axes, no finer than the cascade
needs, float16 to halve memory) plus its landmarks. Phase 1 takes one global input per case;
phases 2/3 take crops around each landmark shifted at random from the truth (the paper took 36
shifted crops per case), so every epoch sees new crops. Crops are cut from the raw values and
normalised afterwards; inference (``cascade.predict``) uses the very same functions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from cascade.canonical import to_canonical
from cascade.config import CascadeConfig, GlobalPhaseConfig, LocalPhaseConfig
from cascade.crops import CropSpec, extract_crop
from cascade.global_grid import GlobalGrid, global_input
from cascade.intensity import intensity_range, normalise
from data.landmarks import LandmarkSet
from data.volume import Volume


def finest_spacing(config: CascadeConfig) -> tuple[float, float, float]:
    """The finest voxel size (k, i, j) any local phase samples: finer scan detail is never used."""
    return tuple(float(min(a, b)) for a, b in zip(config.phase2.spacing, config.phase3.spacing))  # type: ignore


def working_volume(volume: Volume, spacing: Sequence[float] | None = None, dtype=np.float32) -> Volume:
    """Canonical axes, resampled (linear) to ``spacing`` along axes where the scan is much finer.

    Training caches and inference both go through this, so networks see the same resolution;
    it bounds memory for fine scans (a 512 x 512 x 400 scan at 0.4 mm shrinks ~3x).
    """
    can = to_canonical(volume, contiguous=False)
    if spacing is not None:
        target = np.where(can.spacing < 0.75 * np.asarray(spacing, float), spacing, can.spacing)
        if not np.allclose(target, can.spacing):
            can = can.resample(target)
    can.array = np.ascontiguousarray(can.array, dtype=dtype)
    return can


@dataclass
class Case:
    """One scan ready for the networks: working volume, its air value and intensity range, landmarks."""

    case_id: str
    volume: Volume
    landmarks: LandmarkSet
    air: float
    value_range: tuple[float, float]

    @classmethod
    def make(cls, case_id: str, volume: Volume, landmarks: LandmarkSet | None, names: list[str],
             spacing: Sequence[float] | None = None, dtype=np.float16) -> "Case":
        """Working volume (``working_volume``) and landmarks ordered as ``names`` (missing ones absent)."""
        vol = working_volume(volume, spacing, dtype)
        lm = landmarks.subset(names, missing_ok=True) if landmarks is not None else \
            LandmarkSet(names, np.full((len(names), 3), np.nan), np.zeros(len(names), bool))
        return cls(case_id, vol, lm, float(vol.array.min()), intensity_range(vol.array))

    def global_input(self, cfg: GlobalPhaseConfig) -> tuple[np.ndarray, GlobalGrid]:
        """Phase-1 input (D, H, W, 1) and its grid."""
        norm = normalise(self.volume.array, cfg.intensity, cfg.bone_threshold_hu, self.value_range)
        x, grid = global_input(Volume(norm, self.volume.affine), cfg.shape)
        return x[..., None], grid

    def crop(self, cfg: LocalPhaseConfig, centre_lps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised crop (D, H, W, 1) centred on ``centre_lps`` and the crop's affine."""
        arr, aff = extract_crop(self.volume, CropSpec(cfg.size, cfg.spacing), centre_lps, fill=self.air)
        return normalise(arr, cfg.intensity, cfg.bone_threshold_hu, self.value_range)[..., None], aff


def global_sample(case: Case, cfg: GlobalPhaseConfig) -> tuple[np.ndarray, np.ndarray, GlobalGrid]:
    """(input (D, H, W, 1), target (N*3,) normalised with NaN for absent landmarks, grid)."""
    x, grid = case.global_input(cfg)
    y = grid.lps_to_normalised(case.landmarks.coords)
    y[~case.landmarks.present] = np.nan
    return x, y.reshape(-1).astype(np.float32), grid


class CropSampler:
    """Random shifted crops around the true landmarks of cached cases."""

    def __init__(self, cases: list[Case], cfg: LocalPhaseConfig, landmark: int | None = None) -> None:
        """``landmark``: restrict to one landmark index (per-landmark models), else all present ones."""
        self.cfg = cfg
        self.spec = CropSpec(cfg.size, cfg.spacing)
        self.cases = cases
        self.pairs = [(c, n) for c, case in enumerate(cases) for n in range(len(case.landmarks))
                      if case.landmarks.present[n] and (landmark is None or n == landmark)]
        if not self.pairs:
            raise ValueError("no present landmarks to sample crops from")
        self.n_landmarks = len(cases[0].landmarks)

    def batch(self, rng: np.random.Generator, size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """A random batch: inputs ``{"image", "landmark"}`` (one-hot id) and targets (size, 3)."""
        picks = rng.integers(len(self.pairs), size=size)
        images, ids, targets = [], [], []
        for p in picks:
            c, n = self.pairs[p]
            case = self.cases[c]
            shift = rng.uniform(-self.cfg.shift_mm, self.cfg.shift_mm, 3)
            truth = case.landmarks.coords[n]
            x, aff = case.crop(self.cfg, truth + case.volume.directions @ shift)
            images.append(x)
            ids.append(n)
            targets.append(self.spec.lps_to_target(aff, truth).astype(np.float32))
        onehot = np.eye(self.n_landmarks, dtype=np.float32)[ids]
        return {"image": np.stack(images), "landmark": onehot}, np.stack(targets)
