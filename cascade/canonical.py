"""Reorient a volume's axes to the canonical order (k -> Superior, i -> Posterior, j -> Left).

Only axis permutations and flips (no interpolation), choosing for each LPS axis the array axis
closest to it, like nibabel's ``as_closest_canonical``. A standard axial DICOM series read by
``data.dicom_read`` is already canonical; NIfTI files and sagittal/coronal series are not. The
affine is updated so every voxel keeps its LPS position: landmarks need no conversion.
"""
from __future__ import annotations

from itertools import permutations

import numpy as np

from data.volume import Volume

# target LPS axis for array axes k, i, j and the sign they should grow in
CANONICAL = ((2, +1), (1, +1), (0, +1))  # k: +z (S), i: +y (P), j: +x (L)


def canonical_axes(directions: np.ndarray) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    """(permutation of array axes, flip per new axis) that brings ``directions`` closest to canonical."""
    d = np.asarray(directions, float)
    best = max(permutations(range(3)),
               key=lambda p: sum(abs(d[CANONICAL[n][0], p[n]]) for n in range(3)))
    flips = tuple(bool(d[CANONICAL[n][0], best[n]] * CANONICAL[n][1] < 0) for n in range(3))
    return best, flips


def to_canonical(volume: Volume, contiguous: bool = True) -> Volume:
    """The same scan with array axes permuted/flipped to canonical order (LPS positions unchanged)."""
    perm, flips = canonical_axes(volume.directions)
    arr = np.transpose(volume.array, perm)
    aff = np.eye(4)
    aff[:3, :3] = volume.affine[:3, list(perm)]
    aff[:3, 3] = volume.affine[:3, 3]
    for axis, flip in enumerate(flips):
        if flip:
            arr = np.flip(arr, axis)
            aff[:3, 3] += aff[:3, axis] * (arr.shape[axis] - 1)
            aff[:3, axis] *= -1
    if contiguous:
        arr = np.ascontiguousarray(arr)
    meta = dict(volume.meta)
    meta["notes"] = list(volume.meta.get("notes", []))
    return Volume(arr, aff, meta)
