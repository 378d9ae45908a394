"""What separates real head CTs from each other, drawn at random for a labelled real scan.

``augment_ct_case`` = ``data.augment.spatial.augment_case`` (pose, affine and elastic shape, left/right
mirror with name swap, noise, blur) onto a new scanner grid, then CT acquisition effects:

=====================  ======================================================================
effect                 distribution (``CTOptions`` fields)
=====================  ======================================================================
in-plane pixel         U(``pixel_mm``) mm
slice spacing          U(``slice_mm``) mm (log-uniform); slice profile: a box as wide as the
                       spacing (sampled every <= 1 mm and averaged), i.e. thickness = spacing
field of view          ``p_cut_teeth``: the scan starts U(0, 12) mm below ANS (mandible,
                       Me, Go absent); ``p_cut_chin``: starts U(-15, 10) mm around Me;
                       ``p_cut_top``: ends U(25, 60) mm above N (vertex missing);
                       otherwise the landmarks' box + U(30, 60) mm
kernel                 ``p_sharpen``: unsharp mask (sigma 0.6-1.2 mm, amount 0.3-1.0), else
                       the inherited blur of ``augment_case``
metal streaks          ``p_metal``: 1-3 fillings (3000 HU) between ANS and Me level, with
                       radial bright/dark streaks in their slices
head holder            ``p_holder``: a 4 mm shell (60-250 HU) 3-8 mm behind the skull
HU noise               N(0, U(3, 25) HU), always (on top of ``augment_case``'s noise)
=====================  ======================================================================

Landmarks outside the new field of view are kept but absent; the drawn values are in
``volume.meta["ct_augment"]``.

Draw vs apply, as in ``spatial``: ``draw_ct_params`` makes every random choice into a ``CTParams``
record (scanner grid, the ``SpatialParams`` of the pose/shape/intensity step, kernel, HU-noise
level and generator state, metal filling positions and streak patterns, head-holder HU and gap);
it reads the landmark positions and grid geometry, never voxel values (metal is placed from the
landmarks as moved by ``spatial.move_landmarks``; whether a filling falls inside the slices is a
geometry question). ``apply_ct_params`` is deterministic; what depends on the voxels (the holder
follows the body's back edge, intensity spans) is computed there.
``augment_ct_case = apply_ct_params(draw_ct_params(...))``, bit for bit the case drawn before the
split (same draws from ``rng`` in the same order), so training sets regenerate identically.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import ndimage

from data.augment.spatial import (AugmentOptions, SpatialParams, apply_params, draw_noise_state, draw_params,
                                  empty_grid, make_options, move_landmarks, replay_normal)
from data.landmarks import LandmarkSet
from data.volume import Volume

HU_CLIP = (-1024.0, 3071.0)


@dataclass(frozen=True)
class CTOptions:
    """Ranges of the CT acquisition effects (see the module table)."""

    pixel_mm: tuple[float, float] = (0.6, 1.0)
    slice_mm: tuple[float, float] = (0.6, 5.0)
    p_cut_teeth: float = 0.2
    p_cut_chin: float = 0.15
    p_cut_top: float = 0.3
    p_sharpen: float = 0.3
    p_metal: float = 0.15
    p_holder: float = 0.5
    noise_hu: tuple[float, float] = (3.0, 25.0)


def _landmark(lm: LandmarkSet, name: str) -> np.ndarray | None:
    if name in lm.names and lm.present[lm.index(name)]:
        return lm.coords[lm.index(name)]
    return None


def scanner_grid(landmarks: LandmarkSet, rng: np.random.Generator, opt: CTOptions) -> tuple[tuple[int, int, int], np.ndarray, dict]:
    """A random axial scanner grid (k superior, i posterior, j left) around the landmarks, with its
    field-of-view cut; returns (shape, affine at the fine sampling, drawn values).

    The grid is sampled along k every ``fine`` mm (<= 1 mm); ``slice_profile`` averages it into
    slices of the drawn spacing.
    """
    pts = landmarks.coords[landmarks.present]
    lo, hi = pts.min(0), pts.max(0)
    pad = rng.uniform(30, 60, (2, 3))
    lo, hi = lo - pad[0], hi + pad[1]
    cut = "none"
    ans, me, n = _landmark(landmarks, "ANS"), _landmark(landmarks, "Me"), _landmark(landmarks, "N")
    u = rng.uniform()
    if ans is not None and u < opt.p_cut_teeth:
        lo[2], cut = ans[2] - rng.uniform(0, 12), "teeth"
    elif me is not None and u < opt.p_cut_teeth + opt.p_cut_chin:
        lo[2], cut = me[2] + rng.uniform(-15, 10), "chin"
    if n is not None and rng.uniform() < opt.p_cut_top:
        hi[2] = n[2] + rng.uniform(25, 60)
        cut += "+top"
    pixel = float(rng.uniform(*opt.pixel_mm))
    spacing = float(np.exp(rng.uniform(*np.log(opt.slice_mm))))
    sub = int(np.ceil(spacing / 1.0))
    fine = spacing / sub
    n_slices = max(2, int(np.floor((hi[2] - lo[2]) / spacing)) + 1)
    shape = (n_slices * sub, int((hi[1] - lo[1]) / pixel) + 1, int((hi[0] - lo[0]) / pixel) + 1)
    affine = np.zeros((4, 4))
    affine[2, 0], affine[1, 1], affine[0, 2], affine[3, 3] = fine, pixel, pixel, 1.0
    affine[:3, 3] = [lo[0], lo[1], lo[2] - (sub - 1) * fine / 2]
    return shape, affine, dict(pixel_mm=pixel, slice_mm=spacing, profile_samples=sub, fov_cut=cut)


def profile_grid(shape: Sequence[int], affine: np.ndarray, samples: int) -> tuple[tuple[int, int, int], np.ndarray]:
    """The grid ``slice_profile`` makes of ``shape``/``affine``: every ``samples`` k-slices become one."""
    shape = tuple(int(n) for n in shape)
    if samples <= 1:
        return shape, np.asarray(affine, float)
    out = np.array(affine, float)
    out[:3, 0] *= samples
    out[:3, 3] = empty_grid(shape, affine).index_to_lps(np.array([[(samples - 1) / 2, 0, 0]]))[0]
    return (shape[0] // samples,) + shape[1:], out


def slice_profile(volume: Volume, samples: int) -> Volume:
    """Average every ``samples`` consecutive k-slices into one (a box slice profile)."""
    if samples <= 1:
        return volume
    (n, _, _), affine = profile_grid(volume.shape, volume.affine, samples)
    arr = volume.array[: n * samples].reshape(n, samples, *volume.shape[1:]).mean(1)
    return Volume(np.ascontiguousarray(arr, np.float32), affine, dict(volume.meta))


@dataclass
class CTParams:
    """Everything ``draw_ct_params`` drew for one case; ``None``: the effect does not apply.

    ``grid``: ``scanner_grid``'s values (pixel/slice mm, profile samples, FOV cut; the fine grid
    itself is ``spatial.shape``/``spatial.affine``); ``sharpen``: (sigma mm, amount); ``noise_hu``
    and ``noise_state`` (generator state before the HU-noise draw); ``metal``: one dict per filling
    (``centre_lps``, and ``n_streaks``/``phase``, ``None`` for a filling outside the slices);
    ``holder``: (HU, gap mm)."""

    grid: dict
    spatial: SpatialParams
    sharpen: tuple[float, float] | None
    noise_hu: float
    noise_state: dict
    metal: list[dict] | None
    holder: tuple[float, float] | None


def _sharpen(arr: np.ndarray, voxel: np.ndarray, sigma_mm: float, amount: float) -> tuple[np.ndarray, dict]:
    sigma = np.array([0.0, sigma_mm, sigma_mm]) / voxel
    blurred = ndimage.gaussian_filter(arr, sigma, mode="nearest")
    return arr + amount * (arr - blurred), dict(sharpen_sigma_mm=sigma_mm, sharpen_amount=amount)


def _draw_metal(rng: np.random.Generator, lm: LandmarkSet, grid: Volume) -> list[dict] | None:
    """1-3 fillings between ANS and Me level (landmarks on the output grid ``grid``); None without ANS."""
    ans, me = _landmark(lm, "ANS"), _landmark(lm, "Me")
    if ans is None:
        return None
    z_lo = me[2] + 0.55 * (ans[2] - me[2]) if me is not None else ans[2] - 25
    centres = []
    for _ in range(int(rng.integers(1, 4))):
        side = rng.choice([-1, 1])
        c = np.array([ans[0] + side * rng.uniform(10, 25), ans[1] + rng.uniform(5, 30), rng.uniform(z_lo, ans[2] - 8)])
        centres.append(c)
    fillings = []
    for c in centres:
        k0 = int(round(grid.lps_to_index(c[None])[0][0]))
        inside = 0 <= k0 < grid.shape[0]
        n_streaks, phase = (int(rng.integers(6, 13)), float(rng.uniform(0, np.pi))) if inside else (None, None)
        fillings.append(dict(centre_lps=c.tolist(), n_streaks=n_streaks, phase=phase))
    return fillings


def _metal(vol: Volume, fillings: list[dict]) -> dict:
    """Fillings with radial streaks in the slices through them (in place)."""
    arr = vol.array
    voxel = vol.spacing
    ii, jj = np.indices(arr.shape[1:])
    for f in fillings:
        if f["n_streaks"] is None:
            continue
        k, i, j = vol.lps_to_index(np.asarray(f["centre_lps"], float)[None])[0]
        k0 = int(round(k))
        r = np.hypot((ii - i) * voxel[1], (jj - j) * voxel[2])
        ang = np.arctan2(ii - i, jj - j)
        streak = np.cos(f["n_streaks"] * ang + f["phase"]) * 400.0 * np.exp(-r / 60.0) * (r > 3)
        reach = max(1, int(round(2.0 / voxel[0])))
        for kz in range(max(0, k0 - reach), min(arr.shape[0], k0 + reach + 1)):
            arr[kz] += streak.astype(np.float32)
            arr[kz][r < 2.5] = 3000.0
    return dict(metal=len(fillings))


def _holder(vol: Volume, hu: float, gap: float) -> dict:
    """A curved shell behind the head: per slice, the body's back edge + a gap (in place)."""
    arr = vol.array
    thick = 4.0
    pix = vol.spacing[1]
    body = arr > -400
    ii = np.arange(arr.shape[1])[:, None]
    jj = np.arange(arr.shape[2])[None, :]
    for k in range(arr.shape[0]):
        cols = np.where(body[k].any(0))[0]
        if cols.size == 0:
            continue
        back = np.where(body[k].any(1))[0].max()  # i grows posterior
        i0 = back + gap / pix
        jc = cols.mean()
        curve = i0 - ((jj - jc) * vol.spacing[2]) ** 2 / 400.0 / pix
        shell = (ii >= curve) & (ii < curve + thick / pix) & (np.abs(jj - jc) * vol.spacing[2] < 90)
        arr[k][shell & ~body[k]] = hu
    return dict(holder_hu=hu, holder_gap_mm=gap)


def draw_ct_params(rng: np.random.Generator, volume: Volume, landmarks: LandmarkSet,
                   options: AugmentOptions | None = None, ct: CTOptions | None = None) -> CTParams:
    """All random choices of one CT-like copy (see the module table). Reads the landmark positions
    and ``volume``'s geometry only, never its voxel values."""
    ct = ct or CTOptions()
    opt = options or AugmentOptions()
    shape, affine, grid = scanner_grid(landmarks, rng, ct)
    spatial = draw_params(rng, opt, shape, affine, volume)
    out_shape, out_affine = profile_grid(shape, affine, grid["profile_samples"])
    sharpen = (float(rng.uniform(0.6, 1.2)), float(rng.uniform(0.3, 1.0))) if rng.uniform() < ct.p_sharpen else None
    noise_state = draw_noise_state(rng, out_shape)
    noise_hu = float(rng.uniform(*ct.noise_hu))
    metal = None
    if rng.uniform() < ct.p_metal:
        moved, _ = move_landmarks(landmarks, spatial, opt)
        metal = _draw_metal(rng, moved, empty_grid(out_shape, out_affine))
    holder = (float(rng.uniform(60, 250)), float(rng.uniform(3, 8))) if rng.uniform() < ct.p_holder else None
    return CTParams(grid, spatial, sharpen, noise_hu, noise_state, metal, holder)


def apply_ct_params(volume: Volume, landmarks: LandmarkSet, params: CTParams,
                    options: AugmentOptions | None = None) -> tuple[Volume, LandmarkSet]:
    """The CT-like copy ``params`` describe (deterministic); of ``options`` only ``pairs``/``fill`` are used."""
    drawn = dict(params.grid)
    vol, lm = apply_params(volume, landmarks, params.spatial, options)
    vol = slice_profile(vol, drawn["profile_samples"])
    arr = vol.array
    if params.sharpen is not None:
        arr, extra = _sharpen(arr, vol.spacing, *params.sharpen)
        drawn.update(extra)
    arr = arr + replay_normal(params.noise_state, arr.shape) * np.float32(params.noise_hu)
    vol = Volume(np.asarray(arr, np.float32), vol.affine, vol.meta)
    if params.metal is not None:
        drawn.update(_metal(vol, params.metal))
    if params.holder is not None:
        drawn.update(_holder(vol, *params.holder))
    vol.array = np.clip(vol.array, *HU_CLIP).astype(np.float32)
    lm.present &= vol.contains(np.nan_to_num(lm.coords))
    vol.meta["ct_augment"] = drawn
    return vol, lm


def augment_ct_case(volume: Volume, landmarks: LandmarkSet, rng: np.random.Generator,
                    options: AugmentOptions | None = None, ct: CTOptions | None = None,
                    **changes: Any) -> tuple[Volume, LandmarkSet]:
    """One random real-CT-like copy of a labelled CT (HU) and its landmarks (see the module table):
    ``apply_ct_params`` of ``draw_ct_params``."""
    opt = make_options(options, **changes)
    return apply_ct_params(volume, landmarks, draw_ct_params(rng, volume, landmarks, opt, ct), opt)


__all__ = ["CTOptions", "CTParams", "apply_ct_params", "augment_ct_case", "draw_ct_params", "profile_grid",
           "scanner_grid", "slice_profile"]
