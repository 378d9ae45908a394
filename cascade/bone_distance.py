"""Distance (mm) from an estimate to the nearest bone voxel of a CT: catches points put in the air.

    if checks_bone(bundle.config, vol):
        mm = bone_distances(vol, pred.final, bone_hu(bundle.config))   # (N,), inf = none within SEARCH_MM
        far = mm > FAR_MM                                               # -> state far_from_bone

Craniofacial landmarks lie on bone (or within a few millimetres of it, e.g. soft-tissue-covered
points sampled off the surface). A CT-trained model that goes wrong on an unusual scan (a tilted
gantry, a partial head) can still put points inside the scanned box, but in the air in front of the
face: ``inside`` says yes, but the point is nonsense. This module measures, for each point, the
Euclidean distance in LPS mm to the centre of the nearest voxel with ``HU >= threshold``.

Only a small full-resolution box around each point is read (never a distance transform of the whole
scan): boxes of growing radius (:data:`RADII_MM`, up to :data:`SEARCH_MM`) in index space, each
large enough to hold the whole ball of that radius for any voxel geometry (anisotropic, sheared or
oblique: the box half-width along index axis ``a`` is ``r * ||row a of A^-1||``, ``A`` the 3x3 of the
index->LPS affine). A bone voxel found at distance ``d <= r`` inside the box of radius ``r`` is the
nearest one in the scan, so the first radius that finds one gives the exact answer.

The check runs only for a CT-trained bundle (any phase with intensity mode ``bone`` or ``window``:
the network inputs are Hounsfield units) on a scan whose values are HU (:func:`scan_is_ct`): never
on MRI, where a bone threshold means nothing.

:data:`FAR_MM` was chosen from the true landmarks: on the labelled real CTs (16 each) the largest
distance is 4.8 mm (Visible Human male: max 4.8, 95th percentile 1.9; female 4.7 / 1.8; headsq
4.4 / 3.0 mm), always sella (the centre of the pituitary fossa, not on the bone); on 60 synthetic
phantom heads (seeds 0-59, 939 points) the largest is 4.9 mm (sella again), 95th percentile 4.0 mm.
10 mm is twice the largest: a point this far from any bone is not on the skull.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from data.volume import Volume

BONE_HU = 300.0  # the bundles' phase-1 bone threshold (cascade.config), used when a bundle has none
FAR_MM = 10.0  # a point farther than this from any bone is ``far_from_bone``
SEARCH_MM = 40.0  # farther bone is not searched for: the distance is reported as "more than SEARCH_MM"
RADII_MM = (4.0, 12.0, SEARCH_MM)  # boxes tried in turn (most points have bone within a few mm)
HU_MODES = ("bone", "window")  # intensity modes whose network input is Hounsfield units
AIR_HU = -500.0  # a CT's air is about -1000 HU; MR and other scans have no values this low


def _phases(config) -> list:
    return [p for p in (getattr(config, f"phase{n}", None) for n in (1, 2, 3)) if p is not None]


def ct_trained(config) -> bool:
    """Whether a bundle's network inputs are Hounsfield units (a phase with intensity ``bone`` or ``window``)."""
    return any(getattr(p, "intensity", None) in HU_MODES for p in _phases(config))


def bone_hu(config) -> float:
    """The bone threshold (HU) of a bundle: its first ``bone``-mode phase's, else phase 1's, else :data:`BONE_HU`."""
    phases = _phases(config)
    for p in [p for p in phases if getattr(p, "intensity", None) == "bone"] + phases:
        if getattr(p, "bone_threshold_hu", None) is not None:
            return float(p.bone_threshold_hu)
    return BONE_HU


def hu_like(array: np.ndarray) -> bool:
    """Whether scan values look like Hounsfield units: at least 1 % of (sampled) voxels at or below
    :data:`AIR_HU` (the air around a head; MR intensities are never negative)."""
    sample = np.asarray(array[::4, ::4, ::4])
    return bool(sample.size and np.mean(sample <= AIR_HU) >= 0.01)


def scan_is_ct(volume: Volume) -> bool:
    """Whether ``volume`` is a CT in HU: a DICOM series says so by its modality; a NIfTI has no
    modality field (``data.nifti`` writes a default), so its values decide (:func:`hu_like`)."""
    from data.load import is_nifti

    modality = str(volume.meta.get("modality", "")).upper()
    if not modality or is_nifti(str(volume.meta.get("source", ""))):
        return hu_like(volume.array)
    return modality == "CT"


def checks_bone(config, volume: Volume) -> bool:
    """Whether the bone-distance check applies: a CT-trained bundle (:func:`ct_trained`) on a CT (:func:`scan_is_ct`)."""
    return ct_trained(config) and scan_is_ct(volume)


def _box(volume: Volume, centre: np.ndarray, radius_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Index bounds (lo, hi exclusive) of the voxels that may lie within ``radius_mm`` of ``centre`` (index)."""
    half = radius_mm * np.linalg.norm(np.linalg.inv(volume.affine[:3, :3]), axis=1)  # per index axis k, i, j
    lo = np.maximum(np.floor(centre - half), 0).astype(int)
    hi = np.minimum(np.ceil(centre + half) + 1, volume.shape).astype(int)
    return lo, hi


def bone_distance(volume: Volume, point: Sequence[float], threshold_hu: float = BONE_HU,
                  search_mm: float = SEARCH_MM) -> float:
    """Distance (mm) from LPS ``point`` to the nearest voxel centre with ``HU >= threshold_hu``;
    ``inf`` when there is none within ``search_mm`` (or the point is not finite)."""
    point = np.asarray(point, float)
    if not np.all(np.isfinite(point)):
        return float("inf")
    centre = volume.lps_to_index(point)
    for radius in sorted({min(r, search_mm) for r in RADII_MM} | {search_mm}):
        lo, hi = _box(volume, centre, radius)
        if np.any(hi <= lo):
            continue  # the box misses the scan
        block = volume.array[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        idx = np.argwhere(block >= threshold_hu)
        if not len(idx):
            continue
        lps = volume.index_to_lps(idx + lo)
        d = float(np.sqrt(np.min(np.sum((lps - point) ** 2, axis=1))))
        if d <= radius:  # nothing nearer can lie outside this box
            return d
    return float("inf")


def bone_distances(volume: Volume, points: np.ndarray, threshold_hu: float = BONE_HU,
                   search_mm: float = SEARCH_MM) -> np.ndarray:
    """:func:`bone_distance` of each LPS point (N, 3) -> (N,) mm."""
    return np.array([bone_distance(volume, p, threshold_hu, search_mm) for p in np.asarray(points, float).reshape(-1, 3)])


def far_note(distance_mm: float, far_mm: float = FAR_MM, search_mm: float = SEARCH_MM) -> str:
    """The note of a ``far_from_bone`` point: ``"12 mm from the nearest bone (threshold 10 mm)"``."""
    if np.isfinite(distance_mm):
        return f"{distance_mm:.0f} mm from the nearest bone (threshold {far_mm:g} mm)"
    return f"more than {search_mm:g} mm from the nearest bone (threshold {far_mm:g} mm)"

