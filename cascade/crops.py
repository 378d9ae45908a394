"""Local crops for phases 2 and 3: a box of fixed voxel count and voxel size (mm) around a point.

The box's axes follow the (canonical) volume's axes; its centre voxel sits on the given LPS
point. Samples outside the scan get ``fill`` (padding), so crops near the edge are still valid.
The target is the landmark's position in the crop, normalised so the box spans -0.5..0.5.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from data.volume import Volume


@dataclass(frozen=True)
class CropSpec:
    """Crop size in voxels (D, H, W) along (k, i, j) and voxel size in mm."""

    size: tuple[int, int, int]
    spacing: tuple[float, float, float]

    def affine(self, volume: Volume, centre_lps: Sequence[float]) -> np.ndarray:
        """Index -> LPS affine of the crop centred on ``centre_lps``."""
        a = np.eye(4)
        a[:3, :3] = volume.directions * np.asarray(self.spacing, float)
        half = (np.asarray(self.size, float) - 1) / 2
        a[:3, 3] = np.asarray(centre_lps, float) - a[:3, :3] @ half
        return a

    def lps_to_target(self, affine: np.ndarray, points: np.ndarray) -> np.ndarray:
        """LPS (..., 3) -> normalised position in the crop (-0.5..0.5 inside)."""
        inv = np.linalg.inv(affine)
        idx = np.asarray(points, float) @ inv[:3, :3].T + inv[:3, 3]
        return (idx - (np.asarray(self.size, float) - 1) / 2) / np.asarray(self.size, float)

    def target_to_lps(self, affine: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Inverse of ``lps_to_target``."""
        idx = np.asarray(target, float) * np.asarray(self.size, float) + (np.asarray(self.size, float) - 1) / 2
        return idx @ affine[:3, :3].T + affine[:3, 3]


def extract_crop(volume: Volume, spec: CropSpec, centre_lps: Sequence[float], fill: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(crop array ``spec.size`` float32, crop affine) sampled trilinearly from ``volume``."""
    aff = spec.affine(volume, centre_lps)
    return volume.resample_to(spec.size, aff, order=1, fill=fill).array, aff
