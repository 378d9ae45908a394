"""The ``Volume``: a 3D image indexed ``[k, i, j]`` (slice, row, column) with its geometry.

The geometry is one 4x4 affine ``A`` taking a voxel index to patient coordinates in **LPS
millimetres** (DICOM's frame)::

    [x, y, z, 1]^T = A @ [k, i, j, 1]^T

Column 0 of ``A`` is the step from one slice to the next, column 1 the step down one row
(DICOM's column direction cosine x PixelSpacing[0]), column 2 the step along one column
(DICOM's row direction cosine x PixelSpacing[1]), column 3 the centre of voxel (0, 0, 0).
Integer indices are voxel centres. Nothing here assumes axial slices or a particular orientation.

``check_scan`` is what every reader applies before a scan is used (``check_size`` before decoding):
finite, positive voxel sizes; axes at least 60 degrees apart (any real scan, gantry tilt included);
at least two voxels along every axis (a single slice is refused); no more than ``max_voxels`` /
``max_bytes`` of decoded data. **Non-finite values** (NaN, +-inf: NIfTI masks, padding) are
treated as missing: they are set to the scan's lowest finite value (air for CT) and counted in a
note. A scan with no finite value, or the same value everywhere (blank), is refused.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from scipy import ndimage

from data.errors import InputError

MAX_VOXELS = 2**28  # 268 M voxels, e.g. 512 x 512 x 1024 (1 GiB as float32)
MAX_BYTES = 2 * 2**30  # decoded data, at least 4 bytes (float32) per voxel
MAX_AXIS_COS = 0.5  # largest |cos| between two voxel axes (they are at least 60 degrees apart)


def affine_from_geometry(
    origin: Sequence[float],
    slice_dir: Sequence[float],
    row_dir: Sequence[float],
    col_dir: Sequence[float],
    spacing: Sequence[float],
) -> np.ndarray:
    """Build the index->LPS affine.

    ``origin``: LPS of voxel (0,0,0); ``slice_dir``/``row_dir``/``col_dir``: unit vectors along
    which k, i, j grow (``row_dir`` is DICOM's column cosine, ``col_dir`` its row cosine);
    ``spacing``: (dk, di, dj) in mm.
    """
    a = np.eye(4)
    for axis, (d, s) in enumerate(zip((slice_dir, row_dir, col_dir), spacing)):
        d = np.asarray(d, float)
        a[:3, axis] = d / np.linalg.norm(d) * float(s)
    a[:3, 3] = np.asarray(origin, float)
    return a


def _separable(src: np.ndarray, positions: list[np.ndarray], order: int, fill: float) -> np.ndarray:
    """Resample along each axis in turn at fractional ``positions`` (axis-aligned grids only).

    Same result as ``ndimage.affine_transform(..., mode="grid-constant")`` for a diagonal matrix
    (linear or nearest), but only the block of the source the grid touches is read: a crop costs
    in proportion to its own size, not the scan's.
    """
    lo = [max(0, int(np.floor(p.min())) if p.size else 0) for p in positions]
    hi = [min(n, int(np.floor(p.max())) + 2 if p.size else 0) for p, n in zip(positions, src.shape)]
    if any(h <= l for l, h in zip(lo, hi)):
        return np.full([len(p) for p in positions], fill, dtype=src.dtype if order == 0 else np.float32)
    out = src[tuple(slice(l, h) for l, h in zip(lo, hi))]
    if order == 1:
        out = out.astype(np.float32)  # only the block the grid touches (the source may be float16)
    for axis, (pos, start) in enumerate(zip(positions, lo)):
        n = src.shape[axis]
        if order == 0:
            idx = np.floor(pos + 0.5).astype(int)
            ok = (idx >= 0) & (idx < n)
            out = np.take(out, np.clip(idx, 0, n - 1) - start, axis=axis, mode="clip")
            mask = ok
        else:
            i0 = np.floor(pos).astype(int)
            w = (pos - i0).astype(np.float32)
            ok0, ok1 = (i0 >= 0) & (i0 < n), (i0 + 1 >= 0) & (i0 + 1 < n)
            shape = [1, 1, 1]
            shape[axis] = len(pos)
            a = np.take(out, np.clip(i0 - start, 0, out.shape[axis] - 1), axis=axis)
            b = np.take(out, np.clip(i0 + 1 - start, 0, out.shape[axis] - 1), axis=axis)
            a = np.where(ok0.reshape(shape), a, np.float32(fill))
            b = np.where(ok1.reshape(shape), b, np.float32(fill))
            out = a * (1 - w).reshape(shape) + b * w.reshape(shape)
            mask = ok0 | ok1
        if order == 0:
            shape = [1, 1, 1]
            shape[axis] = len(pos)
            out = np.where(mask.reshape(shape), out, np.asarray(fill, dtype=out.dtype))
    return np.ascontiguousarray(out, dtype=src.dtype if order == 0 else np.float32)


@dataclass
class Volume:
    """A 3D image ``array[k, i, j]`` plus the 4x4 index->LPS-mm ``affine``.

    ``meta`` carries provenance: source path, modality, series UID, and ``notes`` (a list of
    one-line messages about corrections the reader made, e.g. gap resampling or tilt).
    """

    array: np.ndarray
    affine: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array)
        self.affine = np.asarray(self.affine, dtype=float)
        if self.array.ndim != 3:
            raise ValueError(f"Volume array must be 3D [k, i, j], got shape {self.array.shape}")
        if self.affine.shape != (4, 4):
            raise ValueError(f"Volume affine must be 4x4, got {self.affine.shape}")
        if not np.all(np.isfinite(self.affine)):
            raise ValueError("Volume affine has non-finite values")
        if abs(np.linalg.det(self.affine[:3, :3])) < 1e-12:
            raise ValueError("Volume affine is singular")
        self.meta.setdefault("notes", [])

    # ----------------------------------------------------------------- geometry
    @property
    def shape(self) -> tuple[int, int, int]:
        """(slices, rows, columns)."""
        return tuple(int(n) for n in self.array.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> np.ndarray:
        """Voxel size (dk, di, dj) in mm."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    @property
    def directions(self) -> np.ndarray:
        """3x3 matrix whose columns are the unit LPS directions of k, i and j."""
        return self.affine[:3, :3] / self.spacing

    def is_orthogonal(self, tol: float = 1e-4) -> bool:
        """True when the k, i, j axes are mutually perpendicular."""
        d = self.directions
        return bool(np.allclose(d.T @ d, np.eye(3), atol=tol))

    def index_to_lps(self, index: np.ndarray | Sequence[float]) -> np.ndarray:
        """Voxel index (..., 3) as (k, i, j), fractional allowed -> LPS mm (..., 3)."""
        idx = np.asarray(index, dtype=float)
        return idx @ self.affine[:3, :3].T + self.affine[:3, 3]

    def lps_to_index(self, points: np.ndarray | Sequence[float]) -> np.ndarray:
        """LPS mm (..., 3) -> fractional voxel index (..., 3) as (k, i, j)."""
        pts = np.asarray(points, dtype=float)
        inv = np.linalg.inv(self.affine)
        return pts @ inv[:3, :3].T + inv[:3, 3]

    def contains(self, points: np.ndarray | Sequence[float], margin_vox: float = 0.5) -> np.ndarray:
        """Which LPS points (..., 3) fall inside the scanned box (voxel edges by default)."""
        idx = self.lps_to_index(points)
        hi = np.asarray(self.shape, float) - 1 + margin_vox
        with np.errstate(invalid="ignore"):
            return np.all((idx >= -margin_vox) & (idx <= hi), axis=-1)

    def corners_lps(self) -> np.ndarray:
        """LPS of the 8 corner voxel centres (8, 3)."""
        n = np.asarray(self.shape) - 1
        c = np.array([[a, b, d] for a in (0, n[0]) for b in (0, n[1]) for d in (0, n[2])], float)
        return self.index_to_lps(c)

    def center_lps(self) -> np.ndarray:
        """LPS of the centre of the voxel grid."""
        return self.index_to_lps((np.asarray(self.shape, float) - 1) / 2)

    def crop(self, lo: Sequence[int], hi: Sequence[int]) -> "Volume":
        """The voxels ``lo <= [k, i, j] < hi`` (clipped to the grid, at least one voxel per axis),
        same spacing and directions, origin moved: no interpolation."""
        lo = np.clip(np.asarray(lo, int), 0, np.asarray(self.shape) - 1)
        hi = np.clip(np.asarray(hi, int), lo + 1, self.shape)
        arr = np.ascontiguousarray(self.array[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]])
        affine = self.affine.copy()
        affine[:3, 3] = self.index_to_lps(lo[None].astype(float))[0]
        return Volume(arr, affine, dict(self.meta))

    # -------------------------------------------------------------- resampling
    def resample_to(
        self,
        shape: Sequence[int],
        affine: np.ndarray,
        order: int = 1,
        fill: float | None = None,
    ) -> "Volume":
        """Resample onto another grid (``shape`` + index->LPS ``affine``).

        ``order=1`` is trilinear (images), ``order=0`` nearest (masks, labels). Points outside the
        source get ``fill`` (default: the array's minimum, i.e. air for CT).
        """
        affine = np.asarray(affine, float)
        m = np.linalg.inv(self.affine) @ affine  # out index -> in index
        if fill is None:
            fill = float(self.array.min()) if self.array.size else 0.0
        shape = tuple(int(s) for s in shape)
        if order in (0, 1) and np.allclose(m[:3, :3], np.diag(np.diag(m[:3, :3])), atol=1e-9):
            out = _separable(self.array, [np.diag(m)[a] * np.arange(n) + m[a, 3] for a, n in enumerate(shape)],
                             order, fill)
        else:
            src = self.array if order == 0 else self.array.astype(np.float32, copy=False)
            out = ndimage.affine_transform(
                src, m[:3, :3], offset=m[:3, 3], output_shape=shape,
                order=order, mode="grid-constant", cval=fill, prefilter=False,
            )
        meta = dict(self.meta)
        meta["notes"] = list(self.meta.get("notes", []))
        return Volume(out, affine, meta)

    def resample(self, spacing: Sequence[float] | float, order: int = 1, fill: float | None = None) -> "Volume":
        """Resample to a new voxel size (dk, di, dj) mm, same orientation, same first voxel centre,
        covering the same extent (the last voxel centre may fall short by under one new voxel)."""
        new = np.broadcast_to(np.asarray(spacing, float), (3,))
        if np.any(new <= 0):
            raise ValueError(f"spacing must be positive, got {tuple(new)}")
        extent = (np.asarray(self.shape) - 1) * self.spacing
        shape = np.floor(extent / new + 1e-6).astype(int) + 1
        affine = self.affine.copy()
        affine[:3, :3] = self.directions * new
        return self.resample_to(shape, affine, order=order, fill=fill)

    def __repr__(self) -> str:
        sp = ", ".join(f"{s:.4g}" for s in self.spacing)
        return f"Volume(shape={self.shape}, spacing=({sp}) mm, dtype={self.array.dtype})"


def check_size(where: object, shape: Sequence[int], bytes_per_voxel: int = 4, max_voxels: int = MAX_VOXELS,
               max_bytes: int = MAX_BYTES) -> None:
    """Refuse (``InputError``) a ``shape`` that is not positive or decodes to more than the limits."""
    dims = [int(n) for n in shape]
    if any(n < 1 for n in dims):
        raise InputError(where, f"invalid image dimensions {tuple(dims)}")
    voxels = int(np.prod(dims, dtype=object))
    size = voxels * max(int(bytes_per_voxel), 4)
    if voxels > max_voxels or size > max_bytes:
        raise InputError(where, f"image of {' x '.join(map(str, dims))} = {voxels} voxels ({size / 2**30:.2f} GiB) "
                                f"exceeds the limit of {max_voxels} voxels / {max_bytes / 2**30:.2f} GiB "
                                "(max_voxels / max_bytes, --max-voxels)")


def check_scan(vol: Volume, where: object) -> Volume:
    """Validate a freshly read scan (see the module docstring); fills non-finite voxels in place."""
    spacing, d = vol.spacing, vol.directions
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 1e-6):
        raise InputError(where, f"invalid voxel size {tuple(round(float(s), 6) for s in spacing)} mm: must be positive")
    cos = np.abs(d.T @ d - np.eye(3)).max()
    if cos > MAX_AXIS_COS:
        raise InputError(where, f"voxel axes are nearly parallel (|cos| = {cos:.3f}): invalid orientation")
    if min(vol.shape) < 2:
        raise InputError(where, f"only one image slice (shape k, i, j = {vol.shape}): a 3D scan is needed")
    bad = ~np.isfinite(vol.array)
    if bad.all():
        raise InputError(where, "no finite voxel values (all NaN or infinite)")
    if bad.any():
        low = float(vol.array[~bad].min())
        vol.array[bad] = low
        vol.meta.setdefault("notes", []).append(
            f"{int(bad.sum())} non-finite voxels (NaN/inf) set to the lowest value, {low:g}")
    lo, hi = float(vol.array.min()), float(vol.array.max())
    if lo == hi:
        raise InputError(where, f"blank scan: every voxel is {lo:g}")
    return vol
