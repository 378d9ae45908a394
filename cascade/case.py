"""A scan ready for the networks: the *working volume* (canonical axes, no finer than the cascade
needs, float16 in training caches to halve memory), its intensity range and its landmarks.

Phase 1's input is the whole working volume, normalised and shrunk; phases 2/3 cut crops from
the raw values and normalise them afterwards. What each stage does with a ``Case`` is defined
once, in ``cascade.stages``; training and inference both use it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from cascade.canonical import to_canonical
from cascade.config import CascadeConfig, GlobalPhaseConfig, LocalPhaseConfig, PreprocessConfig
from cascade.crops import CropSpec, extract_crop
from cascade.global_grid import GlobalGrid, global_input
from cascade.intensity import intensity_range, normalise
from data.landmarks import LandmarkSet
from data.volume import Volume


def finest_spacing(config: CascadeConfig) -> tuple[float, float, float]:
    """The finest voxel size (k, i, j) any local phase samples: finer scan detail is never used."""
    return tuple(float(min(a, b)) for a, b in zip(config.phase2.spacing, config.phase3.spacing))  # type: ignore


def working_volume(volume: Volume, spacing: Sequence[float] | None = None, dtype=np.float32,
                   resample_below: float = 0.75) -> Volume:
    """Canonical axes, resampled (linear) to ``spacing`` along axes finer than ``resample_below`` x it.

    Training caches and inference both go through this, so networks see the same resolution;
    it bounds memory for fine scans (a 512 x 512 x 400 scan at 0.4 mm shrinks ~3x).
    """
    can = to_canonical(volume, contiguous=False)
    if spacing is not None:
        target = np.where(can.spacing < resample_below * np.asarray(spacing, float), spacing, can.spacing)
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
             spacing: Sequence[float] | None = None, dtype=np.float16,
             preprocess: PreprocessConfig | None = None) -> "Case":
        """Working volume (``working_volume``) and landmarks ordered as ``names`` (missing ones absent)."""
        pre = preprocess or PreprocessConfig()
        vol = working_volume(volume, spacing, dtype, pre.resample_below)
        lm = landmarks.subset(names, missing_ok=True) if landmarks is not None else \
            LandmarkSet(names, np.full((len(names), 3), np.nan), np.zeros(len(names), bool))
        return cls(case_id, vol, lm, float(vol.array.min()), intensity_range(vol.array, pre.percentiles))

    @classmethod
    def for_cascade(cls, config: CascadeConfig, case_id: str, volume: Volume, landmarks: LandmarkSet | None,
                    names: list[str], dtype=np.float16) -> "Case":
        """The case as ``config`` preprocesses it (finest crop spacing, percentiles, resampling rule)."""
        return cls.make(case_id, volume, landmarks, names, finest_spacing(config), dtype, config.preprocess)

    def global_input(self, cfg: GlobalPhaseConfig) -> tuple[np.ndarray, GlobalGrid]:
        """Phase-1 input (D, H, W, 1) and its grid."""
        norm = normalise(self.volume.array, cfg.intensity, cfg.bone_threshold_hu, self.value_range, cfg.window_hu)
        x, grid = global_input(Volume(norm, self.volume.affine), cfg.shape)
        return x[..., None], grid

    def crop(self, cfg: LocalPhaseConfig, centre_lps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised crop (D, H, W, 1) centred on ``centre_lps`` and the crop's affine."""
        arr, aff = extract_crop(self.volume, CropSpec(cfg.size, cfg.spacing), centre_lps, fill=self.air)
        return normalise(arr, cfg.intensity, cfg.bone_threshold_hu, self.value_range, cfg.window_hu)[..., None], aff
