"""Phase-1 input: the whole field of view squeezed onto one fixed grid (paper: 81 x 96 x 96).

The scan's full extent in millimetres (voxel edge to voxel edge) maps onto ``shape`` along each
axis, whatever the slice count or thickness: in-plane each slice is shrunk with OpenCV area
interpolation, then the stack is resampled along k (area when shrinking, linear when growing).
Binarise first, then shrink: each output voxel holds the fraction of bone it covers.

Targets are normalised grid coordinates in [-0.5, 0.5] per axis (voxel-edge aligned, 0 = centre
of the field of view, so an untrained network starts near the middle), a landmark outside the
field of view is simply outside that range, and ``GlobalGrid`` converts both ways.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from data.volume import Volume


def _resize_axis0(arr: np.ndarray, n: int) -> np.ndarray:
    """Resize (K, ...) to (n, ...) along axis 0: area when shrinking, linear when growing."""
    k = arr.shape[0]
    if k == n:
        return arr
    flat = arr.reshape(k, -1)
    interp = cv2.INTER_AREA if n < k else cv2.INTER_LINEAR
    return cv2.resize(flat, (flat.shape[1], n), interpolation=interp).reshape((n,) + arr.shape[1:])


def shrink(array: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Area-resize a (K, I, J) float32 array to ``shape`` = (D, H, W)."""
    d, h, w = (int(s) for s in shape)
    interp = cv2.INTER_AREA if (h <= array.shape[1] and w <= array.shape[2]) else cv2.INTER_LINEAR
    slices = np.stack([cv2.resize(s, (w, h), interpolation=interp) for s in array.astype(np.float32, copy=False)])
    return np.ascontiguousarray(_resize_axis0(slices, d))


@dataclass
class GlobalGrid:
    """Geometry of the phase-1 grid of one scan: index (m, r, c) of the grid -> LPS mm."""

    shape: tuple[int, int, int]
    affine: np.ndarray

    @classmethod
    def for_volume(cls, volume: Volume, shape: Sequence[int]) -> "GlobalGrid":
        """Grid of ``shape`` covering the volume's full extent (edges aligned)."""
        shape = tuple(int(s) for s in shape)
        scale = np.asarray(volume.shape, float) / np.asarray(shape, float)
        m = np.eye(4)
        m[:3, :3] = np.diag(scale)
        m[:3, 3] = 0.5 * scale - 0.5  # centre of grid voxel 0 in source index units
        return cls(shape, volume.affine @ m)  # type: ignore[arg-type]

    def lps_to_normalised(self, points: np.ndarray) -> np.ndarray:
        """LPS (..., 3) -> normalised grid coordinates (..., 3), -0.5..0.5 across the field of view."""
        inv = np.linalg.inv(self.affine)
        idx = np.asarray(points, float) @ inv[:3, :3].T + inv[:3, 3]
        return (idx + 0.5) / np.asarray(self.shape, float) - 0.5

    def normalised_to_lps(self, coords: np.ndarray) -> np.ndarray:
        """Normalised grid coordinates (..., 3) -> LPS (..., 3)."""
        idx = (np.asarray(coords, float) + 0.5) * np.asarray(self.shape, float) - 0.5
        return idx @ self.affine[:3, :3].T + self.affine[:3, 3]

    @property
    def spacing(self) -> np.ndarray:
        """Grid voxel size in mm (varies with each scan's field of view)."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)


def global_input(normalised: Volume, shape: Sequence[int]) -> tuple[np.ndarray, GlobalGrid]:
    """(grid array ``shape`` float32, its geometry) from an already normalised canonical volume."""
    return shrink(normalised.array, shape), GlobalGrid.for_volume(normalised, shape)
