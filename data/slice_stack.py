"""Turn sorted 2D slices at arbitrary positions into a regular 3D grid.

Pure geometry, no DICOM: given each slice's position (LPS of pixel (0,0)) and the in-plane
directions, this

1. orders slices by their position projected on the slice normal (never by file name);
2. detects **gantry tilt** (positions drifting in-plane from slice to slice, i.e. not along the
   row x column normal) and corrects it, as dcm2niix does, by shifting each slice in-plane onto
   an orthogonal grid; the grid is widened so no data are cropped;
3. checks the gaps between slices: a gap much larger than its neighbours (missing slices) is an
   error naming it; **uneven gaps** are resampled (linear along the normal) onto a uniform
   spacing that keeps the first and last slice exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from data.errors import InputError
from data.volume import Volume, affine_from_geometry

UNIFORM_TOL_REL = 0.01  # gaps within 1 % (or 0.01 mm) of each other count as uniform
UNIFORM_TOL_MM = 0.01
TILT_TOL_MM = 0.01  # in-plane drift below this is rounding, not tilt
GAP_WINDOW = 2  # neighbouring gaps on each side that define the local spacing


@dataclass
class StackGeometry:
    """What the slices look like before regularisation (for notes and tests)."""

    order: np.ndarray  # permutation sorting the input by position along the normal
    distances: np.ndarray  # sorted positions along the normal, mm, first = 0
    offsets_ij: np.ndarray  # (K, 2) in-plane drift of each sorted slice, in pixels (rows, cols)
    tilt_deg: float  # angle between the slice stacking direction and the normal


def plane_normal(orientation: Sequence[float]) -> np.ndarray:
    """Unit normal of DICOM ImageOrientationPatient (direction of +j, then of +i)."""
    o = np.asarray(orientation, float)
    n = np.cross(o[:3], o[3:])
    return n / np.linalg.norm(n)


def analyse_positions(positions: np.ndarray, orientation: Sequence[float], spacing_ij: Sequence[float]) -> StackGeometry:
    """Sort slices along the normal and measure in-plane drift (tilt)."""
    o = np.asarray(orientation, float)
    dir_j, dir_i = o[:3] / np.linalg.norm(o[:3]), o[3:] / np.linalg.norm(o[3:])
    n = plane_normal(o)
    pos = np.asarray(positions, float)
    d = pos @ n
    order = np.argsort(d, kind="stable")
    pos, d = pos[order], d[order] - d[order][0]
    rel = pos - pos[0] - np.outer(d, n)
    offsets = np.stack([rel @ dir_i / spacing_ij[0], rel @ dir_j / spacing_ij[1]], axis=1)
    drift_mm = np.linalg.norm(rel[-1]) if len(rel) > 1 else 0.0
    tilt = float(np.degrees(np.arctan2(drift_mm, d[-1]))) if len(d) > 1 and d[-1] > 0 else 0.0
    return StackGeometry(order, d, offsets, tilt)


def check_gaps(distances: np.ndarray, labels: Sequence[str], where: object, gap_factor: float) -> None:
    """Raise if two neighbouring slices coincide or a gap is far larger than its neighbours."""
    gaps = np.diff(distances)
    for m, g in enumerate(gaps):
        if g < 1e-3:
            raise InputError(where, f"two slices at the same position ({labels[m]} and {labels[m + 1]}, "
                                    f"{distances[m]:.3f} mm along the normal); several acquisitions in one series?")
    if len(gaps) < 3:
        return
    for m, g in enumerate(gaps):
        near = np.concatenate([gaps[max(0, m - GAP_WINDOW):m], gaps[m + 1:m + 1 + GAP_WINDOW]])
        local = float(np.median(near))
        if g > gap_factor * local:
            raise InputError(where, f"gap of {g:.2f} mm between {labels[m]} and {labels[m + 1]} where neighbouring "
                                    f"slices are {local:.2f} mm apart: slices missing?")


def _shift_slices(slices: np.ndarray, offsets: np.ndarray, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """Shift each slice by its in-plane drift onto a common grid wide enough for all of them."""
    lo = np.floor(offsets.min(axis=0) + 1e-6)
    hi = np.ceil(offsets.max(axis=0) - 1e-6)
    size = (np.array(slices.shape[1:]) + (hi - lo)).astype(int)
    out = np.empty((slices.shape[0], size[0], size[1]), np.float32)
    for k, (oi, oj) in enumerate(offsets):
        m = np.float32([[1, 0, oj - lo[1]], [0, 1, oi - lo[0]]])
        out[k] = cv2.warpAffine(slices[k].astype(np.float32, copy=False), m, (int(size[1]), int(size[0])),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=float(fill))
    return out, lo


def _resample_along_k(slices: np.ndarray, distances: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Linear interpolation between the two nearest slices for each target distance."""
    out = np.empty((len(targets),) + slices.shape[1:], np.float32)
    hi = np.clip(np.searchsorted(distances, targets, side="right"), 1, len(distances) - 1)
    for m, (t, h) in enumerate(zip(targets, hi)):
        lo = h - 1
        w = np.clip((t - distances[lo]) / (distances[h] - distances[lo]), 0.0, 1.0)
        out[m] = slices[lo] * np.float32(1 - w) + slices[h] * np.float32(w)
    return out


def stack_slices(
    slices: np.ndarray,
    positions: np.ndarray,
    orientation: Sequence[float],
    spacing_ij: Sequence[float],
    labels: Sequence[str],
    *,
    where: object,
    fill: float | None = None,
    gap_factor: float = 1.6,
    slice_spacing: float | None = None,
) -> Volume:
    """Regular ``Volume`` from slices (K, I, J) **already sorted** by ``analyse_positions`` order.

    ``positions`` (K, 3) and ``labels`` (file names for messages) are in the same sorted order.
    ``slice_spacing`` forces resampling along the normal to that spacing (mm).
    """
    o = np.asarray(orientation, float)
    dir_j, dir_i = o[:3] / np.linalg.norm(o[:3]), o[3:] / np.linalg.norm(o[3:])
    if abs(float(dir_i @ dir_j)) > 1e-3:
        raise InputError(where, f"ImageOrientationPatient rows and columns are not perpendicular: {list(o)}")
    n = plane_normal(o)
    geo = analyse_positions(positions, o, spacing_ij)
    if not np.array_equal(geo.order, np.arange(len(geo.order))):
        raise ValueError("stack_slices expects slices sorted along the normal")
    notes: list[str] = []
    fill = float(slices.min()) if fill is None else float(fill)
    if len(slices) == 1:
        raise InputError(where, "only one image slice: a 3D scan is needed")
    if slice_spacing is not None and not (np.isfinite(slice_spacing) and slice_spacing > 0):
        raise ValueError(f"slice_spacing must be a positive number of mm, got {slice_spacing!r}")
    check_gaps(geo.distances, labels, where, gap_factor)

    origin = np.asarray(positions[0], float)
    drift = np.abs(geo.offsets_ij * np.asarray(spacing_ij)).max()
    data = slices
    if drift > TILT_TOL_MM:
        data, lo = _shift_slices(slices, geo.offsets_ij, fill)
        origin = origin + lo[0] * spacing_ij[0] * dir_i + lo[1] * spacing_ij[1] * dir_j
        notes.append(f"gantry tilt of {geo.tilt_deg:.1f} deg corrected: slices shifted in-plane onto an "
                     f"orthogonal grid (up to {drift:.1f} mm), grid widened to {data.shape[1]}x{data.shape[2]}")

    gaps = np.diff(geo.distances)
    extent = float(geo.distances[-1])
    median = float(np.median(gaps))
    uniform = np.all(np.abs(gaps - median) <= max(UNIFORM_TOL_MM, UNIFORM_TOL_REL * median))
    if slice_spacing is not None:
        count = int(np.floor(extent / slice_spacing + 1e-6)) + 1
        dk = float(slice_spacing)
        data = _resample_along_k(data, geo.distances, np.arange(count) * dk)
        notes.append(f"resampled along the slice normal to {dk:.4g} mm as requested ({count} slices)")
    elif uniform:
        dk = extent / (len(gaps))
    else:
        count = int(round(extent / median)) + 1
        dk = extent / (count - 1)
        data = _resample_along_k(data, geo.distances, np.arange(count) * dk)
        uniq = ", ".join(f"{g:.3g}" for g in np.unique(np.round(gaps, 2)))
        notes.append(f"uneven slice gaps ({uniq} mm) resampled linearly onto a uniform {dk:.4f} mm grid "
                     f"({len(gaps) + 1} -> {count} slices, first and last slice kept)")
    return Volume(np.ascontiguousarray(data, dtype=np.float32),
                  affine_from_geometry(origin, n, dir_i, dir_j, (dk, *spacing_ij)), {"notes": notes})

