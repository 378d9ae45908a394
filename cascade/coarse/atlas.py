"""Coarse stage by multi-atlas registration: labelled real heads, reduced, registered onto the scan.

An ``Atlas`` is a derived, reduced copy of a labelled head CT: its head region (the landmarks'
bounding box plus a margin), resampled onto an LPS-aligned grid of ``spacing`` mm (2 mm by
default), HU clipped to [-1000, 2000] and stored as int16, with its landmarks (LPS mm). A bundle
carries a few of them (``atlases/<name>.npz``, about 1 MB each); the original scans never enter
the project.

``AtlasPrior.estimate(scan)`` places every atlas on the scan and averages what they say:

1. *Search* (robust to any field of view, pose offset and table): the scan and the atlas are put
   on LPS-aligned grids of ``search_mm`` (4 mm) and their bone maps (HU 200 -> 0, 1000 -> 1) are
   matched by normalised cross-correlation over all translations at once (FFT), for each of a
   few isotropic scales of the atlas; the best (scale, shift) wins.
2. *Refine*: from there, an affine registration (Mattes mutual information, SimpleITK,
   ``cascade.coarse.registration``) of the atlas onto the part of the scan it covers (the placed atlas
   box plus ``margin_mm``), at ``spacing`` mm; optionally a B-spline on top.
3. Landmarks are carried into the scan by the inverse transform; the atlases' estimates are
   averaged per landmark (the median when there are three or more). Atlases are registered in
   parallel, one per core, each single-threaded: the result does not change from run to run.

Landmark order follows the bundle's names; an atlas lacking a landmark leaves it to the others.
"""
from __future__ import annotations

import contextlib
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import ndimage
from scipy.signal import fftconvolve

from cascade.config import CoarseConfig
from data.real_subjects import head_box
from data.atomic import atomic_path
from data.errors import InputError
from data.landmarks import LandmarkSet
from data.volume import Volume

HU_RANGE = (-1000.0, 2000.0)
BONE_MAP_HU = (200.0, 1000.0)


@dataclass
class Atlas:
    """A reduced labelled head: LPS-aligned int16 HU volume and its landmarks."""

    name: str
    volume: Volume
    landmarks: LandmarkSet

    def save(self, path: str | Path) -> None:
        """Write ``path`` (.npz) atomically."""
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, array=self.volume.array.astype(np.int16), affine=self.volume.affine,
                                    names=np.array(self.landmarks.names), coords=self.landmarks.coords,
                                    present=self.landmarks.present, name=np.array(self.name))

    @classmethod
    def load(cls, path: str | Path) -> "Atlas":
        """Read an atlas written by ``save``."""
        with _atlas_file(path) as z:
            return cls(str(z["name"]), Volume(z["array"].astype(np.float32), z["affine"]), _landmarks(z))


def load_atlas_landmarks(path: str | Path) -> LandmarkSet:
    """Only the landmarks of an atlas file (its volume is not read)."""
    with _atlas_file(path) as z:
        return _landmarks(z)


def _landmarks(z) -> LandmarkSet:
    return LandmarkSet([str(n) for n in z["names"]], z["coords"], z["present"].astype(bool))


@contextlib.contextmanager
def _atlas_file(path: str | Path):
    """The open ``.npz`` of an atlas; any read problem as an ``InputError`` naming the file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            yield z
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(path, f"unreadable atlas: {exc}") from None


def lps_aligned(volume: Volume, spacing: float, fill: float = HU_RANGE[0]) -> Volume:
    """``volume`` resampled (linear) onto an LPS-axis-aligned grid of ``spacing`` mm covering it.

    The grid's axes are (k, i, j) = (S, P, L): k runs inferior -> superior like the canonical axes.
    """
    corners = volume.corners_lps()
    lo, hi = corners.min(0), corners.max(0)
    size = np.floor((hi - lo) / spacing).astype(int) + 1  # x, y, z
    affine = np.zeros((4, 4))
    affine[0, 2] = affine[1, 1] = affine[2, 0] = spacing  # k -> z, i -> y, j -> x
    affine[:3, 3] = lo
    affine[3, 3] = 1.0
    out = volume.resample_to((int(size[2]), int(size[1]), int(size[0])), affine, fill=fill)
    out.array = np.clip(out.array, *HU_RANGE).astype(np.float32)
    return out


def make_atlas(name: str, volume: Volume, landmarks: LandmarkSet, spacing: float = 2.0,
               margin_mm: float = 30.0) -> Atlas:
    """A reduced atlas of a labelled CT (HU): head box, LPS-aligned ``spacing`` mm grid, int16."""
    box = head_box(volume, landmarks, margin_mm + 2 * spacing)
    if box.spacing.min() < 0.5 * spacing:  # anti-alias before shrinking
        sigma = np.maximum(0.4 * spacing / box.spacing - 0.4, 0)
        box = Volume(ndimage.gaussian_filter(box.array.astype(np.float32), sigma), box.affine)
    vol = lps_aligned(box, spacing)
    vol.array = np.rint(vol.array).astype(np.int16).astype(np.float32)
    return Atlas(name, vol, landmarks)


def bone_map(array: np.ndarray) -> np.ndarray:
    """0 below 200 HU, 1 above 1000 HU, linear between."""
    lo, hi = BONE_MAP_HU
    return np.clip((array - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def _scaled(atlas_vol: Volume, scale: float, spacing: float, centre: np.ndarray) -> Volume:
    """The atlas volume magnified by ``scale`` about ``centre``, on an LPS-aligned ``spacing`` grid."""
    aff = atlas_vol.affine.copy()
    aff[:3, :3] *= scale
    aff[:3, 3] = centre + scale * (aff[:3, 3] - centre)
    return lps_aligned(Volume(atlas_vol.array, aff), spacing)


def ncc_search(scan: Volume, template: Volume) -> tuple[float, np.ndarray]:
    """Best normalised cross-correlation of ``template``'s bone map over all placements inside
    ``scan`` (both LPS-aligned, same spacing): (score, LPS shift of the template's origin)."""
    s = bone_map(scan.array)
    t = bone_map(template.array)
    if min(s.shape[a] - t.shape[a] for a in range(3)) < 0:  # template larger than the scan: pad the scan
        pad = [(0, max(0, t.shape[a] - s.shape[a])) for a in range(3)]
        s = np.pad(s, pad)
    t0 = t - t.mean()
    tn = float(np.sqrt((t0 ** 2).sum())) or 1.0
    flip = t0[::-1, ::-1, ::-1]
    num = fftconvolve(s, flip, mode="valid")
    ones = np.ones(t.shape, np.float32)
    s_sum = fftconvolve(s, ones, mode="valid")
    s_sq = fftconvolve(s * s, ones, mode="valid")
    var = np.maximum(s_sq - s_sum ** 2 / t.size, 1e-6 * t.size)
    ncc = num / (np.sqrt(var) * tn)
    best = np.unravel_index(int(np.argmax(ncc)), ncc.shape)
    origin = scan.index_to_lps(np.asarray(best, float)[None])[0]
    return float(ncc[best]), origin - template.affine[:3, 3]


class AtlasPrior:
    """Multi-atlas landmark estimate for a scan (see the module docstring)."""

    def __init__(self, atlases: Sequence[Atlas], names: Sequence[str], options: CoarseConfig | None = None,
                 threads: int = 0, seed: int = 0) -> None:
        """``options``: the bundle's coarse-stage settings; ``threads``: atlases registered at once
        (0 = one per core). Each registration runs single-threaded, so results are bit-identical from
        run to run (ITK's multi-threaded metric sums are not: up to 1 mm apart)."""
        if not atlases:
            raise ValueError("an atlas prior needs at least one atlas")
        self.atlases = list(atlases)
        self.names = list(names)
        self.options = options or CoarseConfig(method="atlas")
        self.threads, self.seed = int(threads), int(seed)

    def place(self, scan_search: Volume, scan_fine: Volume, atlas: Atlas) -> tuple[np.ndarray, dict]:
        """One atlas's landmarks (in ``self.names`` order, NaN where it lacks one) in the scan."""
        from cascade.coarse.registration import invert_points, register, transfer_landmarks

        import SimpleITK as sitk

        opt = self.options
        t0 = time.perf_counter()
        centre = atlas.volume.center_lps()
        best = (-np.inf, 1.0, np.zeros(3))
        for s in opt.scales:
            score, shift = ncc_search(scan_search, _scaled(atlas.volume, s, opt.search_mm, centre))
            if score > best[0]:
                best = (score, s, shift)
        score, s, shift = best
        info = dict(atlas=atlas.name, ncc=score, scale=s, search_s=time.perf_counter() - t0)
        # scan point x <-> atlas point c + (x - c - d) / s   (d: shift of the atlas centre)
        initial = sitk.AffineTransform(3)
        initial.SetCenter([float(v) for v in centre + shift])
        initial.SetMatrix([float(v) for v in (np.eye(3) / s).ravel()])
        initial.SetTranslation([float(v) for v in -shift])
        lm = atlas.landmarks.subset(self.names, missing_ok=True)
        if opt.mode == "search":
            coords, _ = invert_points(initial, lm.coords)
        else:
            region = _region(scan_fine, atlas.volume, centre, s, shift, opt.margin_mm)
            transform, reg = register(region, atlas.volume, "bspline" if opt.mode == "bspline" else "affine",
                                      threads=1, seed=self.seed, initial=initial,
                                      shrink=(2, 1), smoothing_mm=(2.0, 0.0), bspline_shrink=(2,),
                                      bspline_smoothing_mm=(1.0,), bspline_iterations=30, sampling=0.1,
                                      iterations=100)
            info.update(metric=reg["affine"]["metric"], refine_s=reg["register_s"])
            coords = transfer_landmarks(transform, lm)[0].coords
        coords[~lm.present] = np.nan
        info["total_s"] = time.perf_counter() - t0
        return coords, info

    def estimate(self, scan: Volume) -> tuple[np.ndarray, dict]:
        """(N, 3) LPS estimates (NaN where no atlas has the landmark) and per-atlas details."""
        opt = self.options
        t0 = time.perf_counter()
        fine = lps_aligned(scan, opt.spacing)
        search = lps_aligned(scan, opt.search_mm)
        from concurrent.futures import ThreadPoolExecutor

        from cascade.coarse.registration import single_threaded_itk

        workers = min(len(self.atlases), self.threads or os.cpu_count() or 1)
        with single_threaded_itk(), ThreadPoolExecutor(workers) as pool:  # one atlas per core: reproducible
            placed = list(pool.map(lambda a: self.place(search, fine, a), self.atlases))
        per_atlas, infos = [c for c, _ in placed], [i for _, i in placed]
        stack = np.stack(per_atlas)
        with warnings.catch_warnings():  # a landmark no atlas has stays NaN, without a warning
            warnings.simplefilter("ignore", RuntimeWarning)
            fused = np.nanmedian(stack, 0) if len(stack) >= 3 else np.nanmean(stack, 0)
        return fused, dict(atlases=infos, per_atlas=stack, seconds=time.perf_counter() - t0)


def _region(scan: Volume, atlas_vol: Volume, centre: np.ndarray, scale: float, shift: np.ndarray,
            margin_mm: float) -> Volume:
    """The part of the (LPS-aligned) scan under the placed atlas box, plus ``margin_mm``."""
    corners = centre + shift + scale * (atlas_vol.corners_lps() - centre)
    idx = scan.lps_to_index(np.concatenate([corners.min(0, keepdims=True) - margin_mm,
                                            corners.max(0, keepdims=True) + margin_mm]))
    return scan.crop(np.floor(idx.min(0)), np.ceil(idx.max(0)) + 1)


def save_atlases(atlases: Sequence[Atlas], folder: str | Path) -> list[str]:
    """Write each atlas as ``folder/<name>.npz``; returns the file names."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for a in atlases:
        a.save(folder / f"{a.name}.npz")
        files.append(f"{a.name}.npz")
    return files


def load_atlases(folder: str | Path, files: Sequence[str]) -> list[Atlas]:
    """The atlases named in a bundle's manifest."""
    return [Atlas.load(Path(folder) / f) for f in files]


__all__ = ["Atlas", "AtlasPrior", "bone_map", "load_atlas_landmarks", "load_atlases", "lps_aligned", "make_atlas",
           "ncc_search", "save_atlases"]
