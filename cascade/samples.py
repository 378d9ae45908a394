"""Training samples, cut on the fly from volumes cached in memory (never written to disk).

A ``Case`` holds one scan already in canonical orientation plus its landmarks. Phase 1 needs one
global input per case; phases 2/3 need crops around each landmark shifted at random from the
truth (the paper took 36 shifted crops per case), so every epoch sees new crops.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from cascade.canonical import to_canonical
from cascade.config import CascadeConfig, GlobalPhaseConfig, LocalPhaseConfig
from cascade.crops import CropSpec, extract_crop
from cascade.global_grid import GlobalGrid, global_input
from cascade.intensity import air_value, normalise
from data.landmarks import LandmarkSet
from data.volume import Volume


@dataclass
class Case:
    """One training/validation scan: canonical volume (raw values) and landmarks in LPS mm."""

    case_id: str
    volume: Volume
    landmarks: LandmarkSet

    @classmethod
    def make(cls, case_id: str, volume: Volume, landmarks: LandmarkSet, names: list[str],
             spacing: Sequence[float] | None = None) -> "Case":
        """Working volume (see ``working_volume``) and landmarks ordered as ``names`` (missing ones absent)."""
        return cls(case_id, working_volume(volume, spacing), landmarks.subset(names, missing_ok=True))


def finest_spacing(config: CascadeConfig) -> tuple[float, float, float]:
    """The finest voxel size (k, i, j) any local phase samples: finer scan detail is never used."""
    return tuple(float(min(a, b)) for a, b in zip(config.phase2.spacing, config.phase3.spacing))  # type: ignore


def working_volume(volume: Volume, spacing: Sequence[float] | None = None) -> Volume:
    """Canonical axes, and resampled (linear) to ``spacing`` along axes where the scan is much finer.

    Training caches and inference both go through this, so networks see the same resolution;
    it bounds memory for fine scans (a 512 x 512 x 400 scan at 0.4 mm shrinks ~3x).
    """
    can = to_canonical(volume)
    if spacing is None:
        return can
    target = np.where(can.spacing < 0.75 * np.asarray(spacing, float), spacing, can.spacing)
    if np.allclose(target, can.spacing):
        return can
    return can.resample(target)


def normalised_volume(volume: Volume, intensity: str, threshold: float) -> Volume:
    """The volume with network-ready intensities (same geometry)."""
    return Volume(normalise(volume.array, intensity, threshold), volume.affine, volume.meta)


def global_sample(case: Case, cfg: GlobalPhaseConfig) -> tuple[np.ndarray, np.ndarray, GlobalGrid]:
    """(input (D, H, W, 1), target (N*3,) normalised with NaN for absent landmarks, grid)."""
    x, grid = global_input(normalised_volume(case.volume, cfg.intensity, cfg.bone_threshold_hu), cfg.shape)
    y = grid.lps_to_normalised(case.landmarks.coords)
    y[~case.landmarks.present] = np.nan
    return x[..., None], y.reshape(-1).astype(np.float32), grid


class CropSampler:
    """Random shifted crops around the true landmarks of cached cases."""

    def __init__(self, cases: list[Case], cfg: LocalPhaseConfig, landmark: int | None = None) -> None:
        """``landmark``: restrict to one landmark index (per-landmark models), else all present ones."""
        self.cfg = cfg
        self.spec = CropSpec(cfg.size, cfg.spacing)
        self.volumes = [normalised_volume(c.volume, cfg.intensity, cfg.bone_threshold_hu) for c in cases]
        self.fill = air_value(cfg.intensity, cfg.bone_threshold_hu)
        self.cases = cases
        self.pairs = [(c, n) for c, case in enumerate(cases) for n in range(len(case.landmarks))
                      if case.landmarks.present[n] and (landmark is None or n == landmark)]
        if not self.pairs:
            raise ValueError("no present landmarks to sample crops from")
        self.n_landmarks = len(cases[0].landmarks)

    def crop(self, case: int, landmark: int, centre_lps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(crop (D, H, W, 1), target (3,)) for a crop centred on ``centre_lps``."""
        arr, aff = extract_crop(self.volumes[case], self.spec, centre_lps, fill=self.fill)
        truth = self.cases[case].landmarks.coords[landmark]
        return arr[..., None], self.spec.lps_to_target(aff, truth).astype(np.float32)

    def batch(self, rng: np.random.Generator, size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """A random batch: inputs ``{"image", "landmark"}`` (one-hot id) and targets (size, 3)."""
        picks = rng.integers(len(self.pairs), size=size)
        images, ids, targets = [], [], []
        for p in picks:
            c, n = self.pairs[p]
            shift = rng.uniform(-self.cfg.shift_mm, self.cfg.shift_mm, 3)
            centre = self.cases[c].landmarks.coords[n] + self.volumes[c].directions @ shift
            x, y = self.crop(c, n, centre)
            images.append(x)
            ids.append(n)
            targets.append(y)
        onehot = np.eye(self.n_landmarks, dtype=np.float32)[ids]
        return {"image": np.stack(images), "landmark": onehot}, np.stack(targets)
