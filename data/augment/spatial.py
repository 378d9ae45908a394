"""Training-set augmentation: one labelled scan -> many plausible new subjects with exact landmarks.

``augment_case`` resamples the scan through a random spatial transform and changes its
intensities; the landmarks move by exactly the same transform.

Spatial model (all in LPS mm). For an output point ``q`` (a voxel centre of the output grid) the
output value is the input value at::

    T(q) = F(M(q + u(q)))

``u`` is a smooth elastic displacement (a cubic B-spline on a coarse control grid laid over the
output grid, control points every ``elastic_spacing_mm``), ``M`` a random affine (rotation, scale,
shear about the output grid's centre, translation; identity when all ranges are zero) and ``F``
an optional left/right mirror across the sagittal plane ``x = flip_x_mm`` (default: the input
grid's centre; any plane gives an exact mirror, the plane only decides where the copy lands). A landmark ``p`` of the
input lands where the output samples it: ``q = T^-1(p)``. The affine parts are inverted exactly;
``q + u(q) = (F M)^-1 p`` is solved by fixed-point iteration (``q <- y - u(q)``, a contraction
because the coefficients are kept below the B-spline injectivity bound ``0.4 x spacing``), to
below ``INVERSE_TOL_MM``; the largest residual ``|T(q) - p|`` is reported in the output meta.

Mirroring also swaps the names of left/right partners (from the landmark-set definition's
``pairs``): the flipped image's "L x" is the mirrored original "R x". A landmark whose partner is
not in the set becomes absent; landmarks without a partner (midline) just mirror.

Intensity model, after resampling: smooth multiplicative bias field (``exp`` of a coarse
B-spline), gamma, Gaussian blur (sigma in mm), Gaussian noise. Bias and gamma act on values above
the input's minimum (the background/air level), so MRI zeros and CT air stay put.

Landmarks that end up outside the output grid are kept but marked absent (``present = False``),
as the phantom generator does for cut-off landmarks.

Draw vs apply (as TorchIO's ``make_params`` / ``apply_transform``): ``draw_params`` makes every
random choice and returns a ``SpatialParams`` record (output grid, affine matrix and its angles,
scales, shears, shift, elastic B-spline coefficients, flip, and an ``IntensityParams`` saying which
intensity ops apply and with what values); it reads only the input's geometry (shape, affine), never
its voxel values. ``apply_params`` is deterministic (no ``rng``): it resamples, moves the landmarks
(``move_landmarks``, geometry only) and applies the intensity ops; data-dependent quantities (the
fill/background level, the 99th-percentile intensity span that scales gamma and noise) are computed
there. ``augment_case(v, l, rng, opt) == apply_params(v, l, draw_params(rng, opt, None, None, v), opt)``,
bit for bit, and the draws come from ``rng`` in the same order as before the split, so the same
seed gives the same case as ever. The noise field is not stored: ``IntensityParams.noise_state``
holds the generator's state before the noise draw (``replay_normal`` regenerates it exactly) and
``draw_params`` advances ``rng`` past it by drawing it once (cheap next to the resampling).
``to_jsonable`` turns a params record into plain lists/dicts (e.g. to compare or log it).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from data.landmark_defs import list_definitions, load_definition
from data.landmark_io import write_landmarks
from data.landmarks import LandmarkSet
from data.manifest import write_manifest
from data.nifti import write_nifti
from data.volume import Volume

INVERSE_TOL_MM = 1e-4     # fixed-point stopping rule for the inverse elastic map
_INVERSE_MAX_ITER = 100
_RMS_FACTOR = (151 / 315) ** 1.5  # RMS of a cubic B-spline field / std of its i.i.d. coefficients (3D)
_SLAB = 8                 # output slices resampled at once (bounds the coordinate arrays' memory)


@dataclass(frozen=True)
class AugmentOptions:
    """Ranges of the random augmentation (each draw is uniform in its range unless noted).

    Spatial: ``rotation_deg`` per LPS axis in [-r, r]; ``scale`` per axis in [1-s, 1+s];
    ``shear`` off-diagonal terms in [-s, s]; ``translation_mm`` per axis in [-t, t];
    ``elastic_mm``: the RMS displacement of the elastic field is drawn in [0, elastic_mm]
    (largest displacements are ~3x the RMS), control points every ``elastic_spacing_mm``;
    ``p_flip``: probability of a left/right mirror (names of partners swapped, see ``pairs``).
    Intensity (each applied with its probability ``p_*``): ``bias`` log-amplitude (std of the
    control coefficients drawn in [0, bias]; 0.3 gives roughly +-30 %) on a grid every
    ``bias_spacing_mm``; ``gamma`` exponent in [1/(1+g), 1+g] (log-uniform); ``noise`` std as a
    fraction of the intensity range (99th percentile - minimum), drawn in [0, noise];
    ``blur_mm`` Gaussian sigma in mm drawn in [0, blur_mm].
    ``pairs``: left/right partners; ``None`` takes them from the built-in landmark-set definition
    that contains every landmark name (an error on flipping if there is none), a string names a
    definition (built-in name or CSV path), a dict gives them directly (``{}``: mirror only).
    ``fill``: value outside the input (default its minimum).
    """

    rotation_deg: float = 12.0
    scale: float = 0.1
    shear: float = 0.05
    translation_mm: float = 10.0
    elastic_mm: float = 2.0
    elastic_spacing_mm: float = 35.0
    p_flip: float = 0.5
    flip_x_mm: float | None = None
    bias: float = 0.3
    bias_spacing_mm: float = 80.0
    p_bias: float = 0.5
    gamma: float = 0.3
    p_gamma: float = 0.5
    noise: float = 0.03
    p_noise: float = 0.5
    blur_mm: float = 1.0
    p_blur: float = 0.25
    pairs: dict[str, str] | str | None = None
    fill: float | None = None

    @classmethod
    def none(cls, **changes: Any) -> "AugmentOptions":
        """All augmentation off (identity), then ``changes``: ``AugmentOptions.none(elastic_mm=3)``."""
        off = dict(rotation_deg=0.0, scale=0.0, shear=0.0, translation_mm=0.0, elastic_mm=0.0, p_flip=0.0,
                   p_bias=0.0, p_gamma=0.0, p_noise=0.0, p_blur=0.0)
        return cls(**{**off, **changes})


def make_options(options: AugmentOptions | None = None, **changes: Any) -> AugmentOptions:
    """``options`` (default ``AugmentOptions()``) with ``changes``; TypeError naming unknown fields."""
    known = {f.name for f in fields(AugmentOptions)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise TypeError(f"unknown augmentation option(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return replace(options or AugmentOptions(), **changes)


# --------------------------------------------------------------------------- smooth random fields
def _bspline_weights(t: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Cubic B-spline: positions ``t`` (control units, clamped to [0, m]) -> first of the 4
    coefficients touched (``cell``) and their weights (..., 4). Outside the grid the field is
    constant along the axis (clamping), so it stays bounded and Lipschitz everywhere."""
    t = np.clip(np.asarray(t, float), 0.0, float(m))
    cell = np.minimum(np.floor(t), m - 1).astype(int)
    f = t - cell
    w = np.stack([(1 - f) ** 3, 3 * f ** 3 - 6 * f ** 2 + 4, -3 * f ** 3 + 3 * f ** 2 + 3 * f + 1, f ** 3], -1) / 6
    return cell, w


class SplineField:
    """A smooth vector field on a voxel grid: cubic B-spline with control points at most
    ``spacing_mm`` apart along each grid axis, coefficients ``coef`` (mk+3, mi+3, mj+3, C).

    Positions are grid indices (k, i, j); the field is evaluated identically on the dense grid
    (``dense``, separable and fast) and at arbitrary points (``at``)."""

    def __init__(self, shape: Sequence[int], voxel_mm: Sequence[float], spacing_mm: float) -> None:
        extent = (np.asarray(shape, float) - 1) * np.asarray(voxel_mm, float)
        self.shape = tuple(int(n) for n in shape)
        self.m = np.maximum(1, np.ceil(extent / float(spacing_mm) - 1e-9)).astype(int)  # intervals per axis
        self.step = np.where(extent > 0, extent / self.m, 1.0) / np.asarray(voxel_mm, float)  # in voxels
        self.coef_shape = tuple(int(m) + 3 for m in self.m)
        self.coef: np.ndarray | None = None

    def _axis_matrix(self, axis: int, index: np.ndarray) -> np.ndarray:
        cell, w = _bspline_weights(index / self.step[axis], int(self.m[axis]))
        mat = np.zeros((len(index), self.coef_shape[axis]), np.float32)
        rows = np.arange(len(index))[:, None]
        np.add.at(mat, (rows, cell[:, None] + np.arange(4)), w)
        return mat

    def dense(self, k_range: tuple[int, int] | None = None) -> np.ndarray:
        """The field on grid slices ``k_range`` (all by default): (nk, ni, nj, C) float32."""
        k0, k1 = k_range or (0, self.shape[0])
        c = self.coef.astype(np.float32)
        mk, mi, mj, nc = c.shape
        out = self._axis_matrix(0, np.arange(k0, k1, dtype=float)) @ c.reshape(mk, -1)        # (nk, mi*mj*C)
        out = self._axis_matrix(1, np.arange(self.shape[1], dtype=float)) @ out.reshape(-1, mi, mj * nc)
        out = self._axis_matrix(2, np.arange(self.shape[2], dtype=float)) @ out.reshape(-1, mj, nc)
        return out.reshape(k1 - k0, self.shape[1], self.shape[2], nc)

    def at(self, index: np.ndarray) -> np.ndarray:
        """The field at fractional grid indices (P, 3) -> (P, C) float64 (any position; clamped outside)."""
        index = np.asarray(index, float).reshape(-1, 3)
        cells, weights = zip(*(_bspline_weights(index[:, a] / self.step[a], int(self.m[a])) for a in range(3)))
        off = np.arange(4)
        ck = (cells[0][:, None] + off)[:, :, None, None]
        ci = (cells[1][:, None] + off)[:, None, :, None]
        cj = (cells[2][:, None] + off)[:, None, None, :]
        w = weights[0][:, :, None, None] * weights[1][:, None, :, None] * weights[2][:, None, None, :]
        return np.einsum("pabc,pabcz->pz", w, self.coef[ck, ci, cj])


# --------------------------------------------------------------------------- spatial transform
@dataclass
class SpatialTransform:
    """``T(q) = flip_affine @ affine (q + elastic(q))``, output LPS -> input LPS (see module doc).

    ``affine`` and ``flip`` are 4x4 LPS matrices; ``elastic`` is a 3-component ``SplineField`` over
    the output grid ``out_affine`` (None: no elastic part)."""

    affine: np.ndarray
    flip: np.ndarray
    out_affine: np.ndarray
    elastic: SplineField | None = None

    @property
    def total_affine(self) -> np.ndarray:
        return self.flip @ self.affine

    def displacement(self, lps: np.ndarray) -> np.ndarray:
        """Elastic displacement u (mm) at output LPS points (P, 3)."""
        lps = np.asarray(lps, float).reshape(-1, 3)
        if self.elastic is None:
            return np.zeros_like(lps)
        inv = np.linalg.inv(self.out_affine)
        return self.elastic.at(lps @ inv[:3, :3].T + inv[:3, 3])

    def forward(self, lps: np.ndarray) -> np.ndarray:
        """T: output LPS points (P, 3) -> the input LPS points they sample."""
        lps = np.asarray(lps, float).reshape(-1, 3)
        a = self.total_affine
        return (lps + self.displacement(lps)) @ a[:3, :3].T + a[:3, 3]

    def inverse(self, lps: np.ndarray) -> tuple[np.ndarray, float]:
        """T^-1: input LPS points (P, 3) -> output LPS, and the largest residual |T(q) - p| (mm).

        NaN points stay NaN. The elastic part is inverted by fixed-point iteration."""
        pts = np.asarray(lps, float).reshape(-1, 3)
        ok = np.all(np.isfinite(pts), axis=1)
        out = np.full_like(pts, np.nan)
        if not ok.any():
            return out, 0.0
        inv = np.linalg.inv(self.total_affine)
        y = pts[ok] @ inv[:3, :3].T + inv[:3, 3]
        q = y.copy()
        if self.elastic is not None:
            for _ in range(_INVERSE_MAX_ITER):
                new = y - self.displacement(q)
                step = float(np.abs(new - q).max())
                q = new
                if step < INVERSE_TOL_MM * 1e-2:
                    break
        out[ok] = q
        residual = float(np.linalg.norm(self.forward(q) - pts[ok], axis=1).max())
        if residual > INVERSE_TOL_MM:
            raise RuntimeError(f"inverse elastic transform did not converge (residual {residual:.3g} mm)")
        return out, residual


def _grid_center(shape: Sequence[int], affine: np.ndarray) -> np.ndarray:
    return np.asarray(affine, float)[:3, :3] @ ((np.asarray(shape, float) - 1) / 2) + np.asarray(affine, float)[:3, 3]


def random_affine(rng: np.random.Generator, opt: AugmentOptions, center: np.ndarray) -> tuple[np.ndarray, dict]:
    """4x4 LPS affine ``q -> center + R S H (q - center) + t`` and its parameters (identity when
    the ranges are zero)."""
    angles = rng.uniform(-1, 1, 3) * opt.rotation_deg
    scale = 1 + rng.uniform(-1, 1, 3) * opt.scale
    shear = rng.uniform(-1, 1, 6) * opt.shear
    shift = rng.uniform(-1, 1, 3) * opt.translation_mm
    h = np.eye(3)
    h[np.where(~np.eye(3, dtype=bool))] = shear
    lin = Rotation.from_euler("xyz", angles, degrees=True).as_matrix() @ np.diag(scale) @ h
    a = np.eye(4)
    a[:3, :3] = lin
    a[:3, 3] = center + shift - lin @ center
    return a, dict(rotation_deg=angles.tolist(), scale=scale.tolist(), shear=shear.tolist(),
                   translation_mm=shift.tolist())


def random_elastic(rng: np.random.Generator, opt: AugmentOptions, shape: Sequence[int],
                   affine: np.ndarray) -> tuple[SplineField | None, float]:
    """A random elastic field over the grid (LPS mm displacements) and its target RMS (mm)."""
    field = SplineField(shape, np.linalg.norm(np.asarray(affine)[:3, :3], axis=0), opt.elastic_spacing_mm)
    rms = float(rng.uniform(0, 1) * opt.elastic_mm)
    coef = rng.standard_normal(field.coef_shape + (3,)) * (rms / _RMS_FACTOR)
    if rms <= 0:
        return None, 0.0
    bound = 0.4 * 0.9 * float(np.min(field.step * np.linalg.norm(np.asarray(affine)[:3, :3], axis=0)))
    field.coef = np.clip(coef, -bound, bound)  # Choi & Lee's injectivity bound (0.4 x control spacing)
    return field, rms


def mirror_matrix(x_mm: float) -> np.ndarray:
    """4x4 LPS mirror across the sagittal plane ``x = x_mm``."""
    f = np.diag([-1.0, 1.0, 1.0, 1.0])
    f[0, 3] = 2.0 * x_mm
    return f


def resolve_pairs(names: Sequence[str], pairs: dict[str, str] | str | None) -> dict[str, str]:
    """Left/right partners for ``names`` (see ``AugmentOptions.pairs``); ValueError if ``None``
    and no built-in definition contains every name."""
    if isinstance(pairs, dict):
        return dict(pairs)
    if isinstance(pairs, str):
        return load_definition(pairs).pairs
    for name in list_definitions():
        d = load_definition(name)
        if set(names) <= set(d.names):
            return d.pairs
    raise ValueError("cannot flip: no built-in landmark-set definition contains all landmark names "
                     f"({', '.join(names)}); pass pairs=<definition> or pairs={{}} to mirror without renaming")


def flip_names(landmarks: LandmarkSet, pairs: dict[str, str]) -> LandmarkSet:
    """After mirroring: landmark ``n`` takes the (mirrored) position of its partner; a landmark whose
    partner is not in the set becomes absent; unpaired ones keep their own."""
    coords = np.full_like(landmarks.coords, np.nan)
    present = np.zeros(len(landmarks), bool)
    for n, name in enumerate(landmarks.names):
        partner = pairs.get(name, name)
        if partner in landmarks.names:
            src = landmarks.index(partner)
            coords[n], present[n] = landmarks.coords[src], landmarks.present[src]
    return LandmarkSet(list(landmarks.names), coords, present, list(landmarks.descriptions),
                       {k: list(v) for k, v in landmarks.extra.items()})


def resample_through(volume: Volume, transform: SpatialTransform, shape: Sequence[int], fill: float) -> np.ndarray:
    """Output array (float32) on the grid ``(shape, transform.out_affine)``: value at q = input at T(q), linear."""
    src = np.asarray(volume.array, np.float32)
    # output index -> input index, affine part: in_idx = L (A_out x + u) + l
    lmat = np.linalg.inv(volume.affine) @ transform.total_affine
    g = lmat[:3, :3] @ transform.out_affine[:3, :3]
    t = lmat[:3, :3] @ transform.out_affine[:3, 3] + lmat[:3, 3]
    shape = tuple(int(n) for n in shape)
    out = np.empty(shape, np.float32)
    ii = np.arange(shape[1], dtype=float)[None, :, None]
    jj = np.arange(shape[2], dtype=float)[None, None, :]
    for k0 in range(0, shape[0], _SLAB):
        k1 = min(shape[0], k0 + _SLAB)
        kk = np.arange(k0, k1, dtype=float)[:, None, None]
        coords = np.empty((3, k1 - k0) + shape[1:])
        for c in range(3):
            coords[c] = g[c, 0] * kk + g[c, 1] * ii + g[c, 2] * jj + t[c]
        if transform.elastic is not None:
            u = transform.elastic.dense((k0, k1))
            coords += np.einsum("cd,kijd->ckij", lmat[:3, :3], u)
        ndimage.map_coordinates(src, coords, output=out[k0:k1], order=1, mode="grid-constant", cval=fill,
                                prefilter=False)
    return out


# --------------------------------------------------------------------------- drawn parameters
@dataclass
class IntensityParams:
    """The drawn intensity ops, in the order they act; ``None``: the op does not apply."""

    bias: float | None = None            # std of the log-gain coefficients
    bias_coef: np.ndarray | None = None  # log-gain B-spline coefficients (mk+3, mi+3, mj+3, 1)
    bias_spacing_mm: float = 80.0
    gamma: float | None = None
    blur_mm: float | None = None         # Gaussian sigma (mm)
    noise: float | None = None           # noise std as a fraction of the intensity span
    noise_state: dict | None = None      # bit-generator state just before the noise draw (``replay_normal``)


@dataclass
class SpatialParams:
    """Everything ``draw_params`` drew for one case (see the module docstring): the output grid
    ``shape``/``affine``, the affine ``matrix`` M (4x4 LPS) and its parameters, the elastic
    coefficients (mm, (mk+3, mi+3, mj+3, 3); ``None``: no elastic part), the mirror and the
    intensity ops."""

    shape: tuple[int, int, int]
    affine: np.ndarray
    matrix: np.ndarray
    rotation_deg: list[float]
    scale: list[float]
    shear: list[float]
    translation_mm: list[float]
    elastic_rms_mm: float
    elastic_coef: np.ndarray | None
    elastic_spacing_mm: float
    flip: bool
    flip_x_mm: float
    intensity: IntensityParams


def to_jsonable(obj: Any) -> Any:
    """Params records (dataclasses), arrays and numpy scalars -> plain dicts, lists and numbers."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj.item() if isinstance(obj, np.generic) else obj


def draw_noise_state(rng: np.random.Generator, shape: Sequence[int]) -> dict:
    """``rng``'s bit-generator state, then ``rng`` advanced past a float32 normal draw of ``shape``
    (as if the noise had been drawn here; ``replay_normal(state, shape)`` gives that noise)."""
    state = rng.bit_generator.state
    rng.standard_normal(tuple(shape), dtype=np.float32)
    return state


def replay_normal(state: dict, shape: Sequence[int]) -> np.ndarray:
    """The float32 standard normals of ``shape`` that a Generator in bit-generator ``state`` draws next."""
    bits = getattr(np.random, state["bit_generator"])()
    bits.state = state
    return np.random.Generator(bits).standard_normal(tuple(shape), dtype=np.float32)


def empty_grid(shape: Sequence[int], affine: np.ndarray) -> Volume:
    """A ``Volume`` with the geometry ``shape``/``affine`` and no voxel data (for geometry queries)."""
    return Volume(np.broadcast_to(np.float32(0), tuple(int(n) for n in shape)), affine)


def _voxel_mm(affine: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.asarray(affine, float)[:3, :3], axis=0)


# --------------------------------------------------------------------------- intensity
def draw_intensity(rng: np.random.Generator, opt: AugmentOptions, shape: Sequence[int],
                   voxel_mm: Sequence[float]) -> IntensityParams:
    """Which of bias field, gamma, blur and noise apply (each with its probability) and their values."""
    p = IntensityParams(bias_spacing_mm=opt.bias_spacing_mm)
    draws = rng.uniform(size=4)  # which ops apply, drawn up front
    if draws[0] < opt.p_bias and opt.bias > 0:
        coef_shape = SplineField(shape, voxel_mm, opt.bias_spacing_mm).coef_shape
        p.bias = float(rng.uniform(0, opt.bias))
        p.bias_coef = rng.standard_normal(coef_shape + (1,)) * p.bias
    if draws[1] < opt.p_gamma and opt.gamma > 0:
        p.gamma = float(np.exp(rng.uniform(-1, 1) * np.log1p(opt.gamma)))
    if draws[2] < opt.p_blur and opt.blur_mm > 0:
        p.blur_mm = float(rng.uniform(0, opt.blur_mm))
    if draws[3] < opt.p_noise and opt.noise > 0:
        p.noise = float(rng.uniform(0, opt.noise))
        p.noise_state = draw_noise_state(rng, shape)
    return p


def apply_intensity(array: np.ndarray, voxel_mm: Sequence[float], params: IntensityParams,
                    floor: float) -> tuple[np.ndarray, dict]:
    """The drawn bias field, gamma, blur and noise on ``array`` (float32, in place where possible);
    ``floor`` is the background level the multiplicative ops leave unchanged. Returns the array and
    the values applied (the noise std in intensity units: fraction x span)."""
    done: dict[str, Any] = {}
    sample = array.ravel()[::97]
    hi = float(np.percentile(sample, 99)) if sample.size else floor
    span = max(hi - floor, 1e-6)
    if params.bias is not None:
        field = SplineField(array.shape, voxel_mm, params.bias_spacing_mm)
        field.coef = np.asarray(params.bias_coef, float)
        gain = np.exp(field.dense()[..., 0])
        array = floor + (array - floor) * gain
        done["bias"] = params.bias
    if params.gamma is not None:
        rel = np.maximum(array - floor, 0) / span
        array = (floor + span * rel ** np.float32(params.gamma)).astype(np.float32)
        done["gamma"] = params.gamma
    if params.blur_mm is not None:
        sigma = params.blur_mm / np.asarray(voxel_mm, float)
        if np.any(sigma > 0.1):
            array = ndimage.gaussian_filter(array, sigma, mode="nearest", truncate=3.0)
        done["blur_mm"] = params.blur_mm
    if params.noise is not None:
        std = params.noise * span
        array = array + replay_normal(params.noise_state, array.shape) * np.float32(std)
        done["noise_std"] = std
    return np.asarray(array, np.float32), done


# --------------------------------------------------------------------------- public API
def draw_params(rng: np.random.Generator, options: AugmentOptions | None, shape: Sequence[int] | None,
                affine: np.ndarray | None, volume: Volume) -> SpatialParams:
    """All random choices of one augmentation (ranges ``options``, default ``AugmentOptions()``)
    onto the output grid ``shape``/``affine`` (``None``: ``volume``'s). Reads only ``volume``'s
    geometry (its grid, and its centre as the default mirror plane), never its voxel values."""
    opt = options or AugmentOptions()
    shape = tuple(int(n) for n in (volume.shape if shape is None else shape))
    a_out = np.array(volume.affine if affine is None else affine, float)
    matrix, drawn = random_affine(rng, opt, _grid_center(shape, a_out))  # about the output grid's centre
    elastic, rms = random_elastic(rng, opt, shape, a_out)
    flip = bool(rng.uniform() < opt.p_flip)
    x0 = float(volume.center_lps()[0] if opt.flip_x_mm is None else opt.flip_x_mm)
    return SpatialParams(shape, a_out, matrix, **drawn, elastic_rms_mm=rms,
                         elastic_coef=None if elastic is None else elastic.coef,
                         elastic_spacing_mm=opt.elastic_spacing_mm, flip=flip, flip_x_mm=x0,
                         intensity=draw_intensity(rng, opt, shape, _voxel_mm(a_out)))


def spatial_transform(params: SpatialParams) -> SpatialTransform:
    """The ``SpatialTransform`` (output LPS -> input LPS) that ``params`` describe."""
    elastic = None
    if params.elastic_coef is not None:
        elastic = SplineField(params.shape, _voxel_mm(params.affine), params.elastic_spacing_mm)
        elastic.coef = np.asarray(params.elastic_coef, float)
    flip = mirror_matrix(params.flip_x_mm) if params.flip else np.eye(4)
    return SpatialTransform(np.asarray(params.matrix, float), flip, np.asarray(params.affine, float), elastic)


def move_landmarks(landmarks: LandmarkSet, params: SpatialParams,
                   options: AugmentOptions | None = None) -> tuple[LandmarkSet, float]:
    """The landmarks on the output grid (``T^-1``; names swapped when mirrored, per ``options.pairs``;
    absent outside the grid) and the largest inverse residual (mm). Geometry only."""
    opt = options or AugmentOptions()
    moved, residual = spatial_transform(params).inverse(landmarks.coords)
    out = LandmarkSet(list(landmarks.names), moved, landmarks.present.copy(), list(landmarks.descriptions),
                      {k: list(v) for k, v in landmarks.extra.items()})
    if params.flip:
        out = flip_names(out, resolve_pairs(landmarks.names, opt.pairs))
    finite = np.all(np.isfinite(out.coords), axis=1)
    out.present &= finite
    out.present[finite] &= empty_grid(params.shape, params.affine).contains(out.coords[finite])
    return out, residual


def apply_params(volume: Volume, landmarks: LandmarkSet, params: SpatialParams,
                 options: AugmentOptions | None = None) -> tuple[Volume, LandmarkSet]:
    """The augmentation ``params`` applied to ``volume`` and its ``landmarks`` (deterministic).

    Of ``options`` only ``pairs`` and ``fill`` are used. Returns a float32 ``Volume`` on the params'
    grid whose ``meta["augment"]`` lists the parameters, and the moved landmarks."""
    opt = options or AugmentOptions()
    fill = float(volume.array.min()) if opt.fill is None else float(opt.fill)
    t0 = time.perf_counter()
    out_lm, residual = move_landmarks(landmarks, params, opt)
    array = resample_through(volume, spatial_transform(params), params.shape, fill)
    t1 = time.perf_counter()
    array, iparams = apply_intensity(array, _voxel_mm(params.affine), params.intensity, fill)
    meta = {k: volume.meta[k] for k in ("modality",) if k in volume.meta}
    meta["augmented_from"] = volume.meta.get("source", "")
    out = Volume(array, np.array(params.affine, float), meta)
    info = dict(rotation_deg=list(params.rotation_deg), scale=list(params.scale), shear=list(params.shear),
                translation_mm=list(params.translation_mm), elastic_rms_mm=params.elastic_rms_mm, flip=params.flip,
                flip_x_mm=params.flip_x_mm if params.flip else None, inverse_residual_mm=residual,
                **iparams, spatial_s=t1 - t0, intensity_s=time.perf_counter() - t1)
    if params.elastic_coef is not None:
        info["elastic_coef_max_mm"] = float(np.abs(params.elastic_coef).max())
    out.meta["augment"] = info
    out.meta["notes"] = list(volume.meta.get("notes", [])) + [
        "augmented: " + ", ".join(f"{k}={_short(v)}" for k, v in info.items() if not k.endswith("_s"))]
    return out, out_lm


def augment_case(volume: Volume, landmarks: LandmarkSet, rng: np.random.Generator,
                 options: AugmentOptions | None = None, *, out_shape: Sequence[int] | None = None,
                 out_affine: np.ndarray | None = None, **changes: Any) -> tuple[Volume, LandmarkSet]:
    """One random augmentation of ``volume`` and its ``landmarks``: ``apply_params`` of ``draw_params``.

    ``options`` (default ``AugmentOptions()``) and keyword ``changes`` to its fields set the ranges;
    ``out_shape``/``out_affine`` give the output grid (default: the input's). Returns a float32
    ``Volume`` whose ``meta["augment"]`` lists the drawn parameters, and the moved landmarks.
    """
    opt = make_options(options, **changes)
    return apply_params(volume, landmarks, draw_params(rng, opt, out_shape, out_affine, volume), opt)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "(" + " ".join(_short(v) for v in value) + ")"
    return str(value)


def _cast(array: np.ndarray, dtype: Any) -> np.ndarray:
    """``array`` as ``dtype``; integer types get rounded, clipped values."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(array), info.min, info.max).astype(dtype)
    return np.asarray(array, dtype)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


MANIFEST_COLUMNS = ("case_id", "image", "landmarks", "seed", "index", "n_present", "flip", "rotation_deg", "scale",
                    "translation_mm", "elastic_rms_mm", "bias", "gamma", "blur_mm", "noise_std")


def augmented_dataset(volume: Volume, landmarks: LandmarkSet, out_dir: str | Path, n_cases: int, seed: int,
                      options: AugmentOptions | None = None, *, include_original: bool = False,
                      dtype: Any = np.float32, progress: Callable[[str], None] | None = _stderr,
                      **changes: Any) -> Path:
    """Write ``n_cases`` augmented copies as ``out_dir/case_NNNN/{image.nii.gz, landmarks.csv}`` and
    ``out_dir/manifest.csv`` (columns ``case_id, image, landmarks`` + drawn parameters; written last,
    all files atomically). Case ``i`` uses ``np.random.default_rng([seed, i])``, so any case can be
    regenerated alone. ``include_original`` adds the unaugmented scan as ``case_original``.
    ``dtype`` of the written images: float32 (default), or an integer type (values rounded and
    clipped to its range; ``np.int16`` halves the files for MRI/CT value ranges).
    ``progress`` gets one line per case (stderr by default; None for silence). Returns the manifest path.
    """
    out_dir = Path(out_dir)
    opt = make_options(options, **changes)  # validate before any work
    width = max(4, len(str(n_cases - 1)))
    jobs: list[tuple[str, int | None]] = [("case_original", None)] if include_original else []
    jobs += [(f"case_{i:0{width}d}", i) for i in range(n_cases)]
    rows = []
    for n, (case_id, index) in enumerate(jobs):
        t0 = time.perf_counter()
        if index is None:
            vol, lm, p = volume, landmarks, {}
        else:
            vol, lm = augment_case(volume, landmarks, np.random.default_rng([int(seed), index]), opt)
            p = vol.meta["augment"]
        t1 = time.perf_counter()
        folder = out_dir / case_id
        write_nifti(Volume(_cast(vol.array, dtype), vol.affine), folder / "image.nii.gz")
        what = "unaugmented original" if index is None else f"augmented, seed {seed} case {index}"
        write_landmarks(folder / "landmarks.csv", lm, description=f"{what}; LPS mm")
        rows.append(dict(case_id=case_id, image=f"{case_id}/image.nii.gz", landmarks=f"{case_id}/landmarks.csv",
                         seed=seed, index="" if index is None else index, n_present=int(lm.present.sum()),
                         **{k: _short(p[k]) if k in p else "" for k in MANIFEST_COLUMNS[6:]}))
        if progress is not None:
            progress(f"[{n + 1}/{len(jobs)}] {case_id} flip={p.get('flip', False)} "
                     f"rot=({' '.join(f'{a:+.1f}' for a in p.get('rotation_deg', [0, 0, 0]))}) deg "
                     f"elastic {p.get('elastic_rms_mm', 0):.2f} mm, present {int(lm.present.sum())}/{len(lm)}, "
                     f"augment {t1 - t0:.2f} s, write {time.perf_counter() - t1:.2f} s")
    return write_manifest(out_dir / "manifest.csv", rows, MANIFEST_COLUMNS)


__all__ = ["AugmentOptions", "IntensityParams", "SpatialParams", "SplineField", "SpatialTransform", "apply_intensity",
           "apply_params", "augment_case", "augmented_dataset", "draw_intensity", "draw_noise_state", "draw_params",
           "empty_grid", "flip_names", "make_options", "mirror_matrix", "move_landmarks", "random_affine",
           "random_elastic", "replay_normal", "resolve_pairs", "spatial_transform", "to_jsonable"]
