"""What separates real head CTs from each other, drawn at random for a labelled real scan.

``augment_ct_case`` = ``cascade.augment.augment_case`` (pose, affine and elastic shape, left/right
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
``volume.meta["ct_augment"]``. The same ``rng`` state gives the same case.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from cascade.augment import AugmentOptions, augment_case, make_options
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


def slice_profile(volume: Volume, samples: int) -> Volume:
    """Average every ``samples`` consecutive k-slices into one (a box slice profile)."""
    if samples <= 1:
        return volume
    n = volume.shape[0] // samples
    arr = volume.array[: n * samples].reshape(n, samples, *volume.shape[1:]).mean(1)
    affine = volume.affine.copy()
    affine[:3, 0] *= samples
    affine[:3, 3] = volume.index_to_lps(np.array([[(samples - 1) / 2, 0, 0]]))[0]
    return Volume(np.ascontiguousarray(arr, np.float32), affine, dict(volume.meta))


def _sharpen(arr: np.ndarray, voxel: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    sigma_mm, amount = float(rng.uniform(0.6, 1.2)), float(rng.uniform(0.3, 1.0))
    sigma = np.array([0.0, sigma_mm, sigma_mm]) / voxel
    blurred = ndimage.gaussian_filter(arr, sigma, mode="nearest")
    return arr + amount * (arr - blurred), dict(sharpen_sigma_mm=sigma_mm, sharpen_amount=amount)


def _metal(vol: Volume, lm: LandmarkSet, rng: np.random.Generator) -> dict:
    """Fillings with radial streaks in the slices through them (in place)."""
    ans, me = _landmark(lm, "ANS"), _landmark(lm, "Me")
    if ans is None:
        return {}
    z_lo = me[2] + 0.55 * (ans[2] - me[2]) if me is not None else ans[2] - 25
    centres = []
    for _ in range(int(rng.integers(1, 4))):
        side = rng.choice([-1, 1])
        c = np.array([ans[0] + side * rng.uniform(10, 25), ans[1] + rng.uniform(5, 30), rng.uniform(z_lo, ans[2] - 8)])
        centres.append(c)
    arr = vol.array
    voxel = vol.spacing
    ii, jj = np.indices(arr.shape[1:])
    for c in centres:
        k, i, j = vol.lps_to_index(c[None])[0]
        k0 = int(round(k))
        if not 0 <= k0 < arr.shape[0]:
            continue
        r = np.hypot((ii - i) * voxel[1], (jj - j) * voxel[2])
        ang = np.arctan2(ii - i, jj - j)
        n_streaks = int(rng.integers(6, 13))
        phase = rng.uniform(0, np.pi)
        streak = np.cos(n_streaks * ang + phase) * 400.0 * np.exp(-r / 60.0) * (r > 3)
        reach = max(1, int(round(2.0 / voxel[0])))
        for kz in range(max(0, k0 - reach), min(arr.shape[0], k0 + reach + 1)):
            arr[kz] += streak.astype(np.float32)
            arr[kz][r < 2.5] = 3000.0
    return dict(metal=len(centres))


def _holder(vol: Volume, rng: np.random.Generator) -> dict:
    """A curved shell behind the head: per slice, the body's back edge + a gap (in place)."""
    arr = vol.array
    hu, gap = float(rng.uniform(60, 250)), float(rng.uniform(3, 8))
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


def augment_ct_case(volume: Volume, landmarks: LandmarkSet, rng: np.random.Generator,
                    options: AugmentOptions | None = None, ct: CTOptions | None = None,
                    **changes: Any) -> tuple[Volume, LandmarkSet]:
    """One random real-CT-like copy of a labelled CT (HU) and its landmarks (see the module table)."""
    ct = ct or CTOptions()
    opt = make_options(options, **changes)
    shape, affine, drawn = scanner_grid(landmarks, rng, ct)
    vol, lm = augment_case(volume, landmarks, rng, opt, out_shape=shape, out_affine=affine)
    vol = slice_profile(vol, drawn["profile_samples"])
    arr = vol.array
    if rng.uniform() < ct.p_sharpen:
        arr, extra = _sharpen(arr, vol.spacing, rng)
        drawn.update(extra)
    arr = arr + rng.standard_normal(arr.shape, dtype=np.float32) * np.float32(rng.uniform(*ct.noise_hu))
    vol = Volume(np.asarray(arr, np.float32), vol.affine, vol.meta)
    if rng.uniform() < ct.p_metal:
        drawn.update(_metal(vol, lm, rng))
    if rng.uniform() < ct.p_holder:
        drawn.update(_holder(vol, rng))
    vol.array = np.clip(vol.array, *HU_CLIP).astype(np.float32)
    lm.present &= vol.contains(np.nan_to_num(lm.coords))
    vol.meta["ct_augment"] = drawn
    return vol, lm


__all__ = ["CTOptions", "augment_ct_case", "scanner_grid", "slice_profile"]
