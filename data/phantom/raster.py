"""Rasterise implicit primitives onto an output voxel grid (painter's algorithm, partial volume).

The grid is ``shape`` (K, I, J) with a 4x4 affine taking a voxel index (k, i, j) to the canonical
head frame (the scanner grid mapped through the inverse head pose). Parts are painted in order:
``value = value + coverage * (part.value - value)``, coverage = ``clip(0.5 - f / aa, 0, 1)``
(a linear partial-volume ramp one voxel wide).

Speed: the grid is cut into blocks (about 5 mm, at most 8 voxels, per side). For each part only
the blocks inside its bounding box are looked at; the Lipschitz bound ``prim(..., bound=True)``
at a block centre says whether the whole block is certainly inside (filled at once), certainly
outside (skipped) or near the surface (every voxel evaluated). Large structures therefore cost
about their surface, not their volume. Memory: the grid is painted in slabs of blocks along k,
each written straight into the output (``reduce`` > 1 averages groups of that many consecutive
slices, the slice-profile integration, on the way).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from data.phantom.sdf import Primitive

CHUNK_VOXELS = 1 << 16  # voxels evaluated at once (small enough for the arrays to stay in cache)
SLAB_VOXELS = 1 << 22  # voxels painted per slab (bounds the working memory)
PROFILE: dict | None = None  # set to a dict to accumulate seconds per part name (speed work)


@dataclass
class Part:
    """One painted piece: ``prim`` filled with ``value`` (HU); ``label`` for the optional label map."""

    name: str
    prim: Primitive
    value: float
    label: int = 0


def block_shape(spacing: Sequence[float], target_mm: float = 5.0, max_vox: int = 8) -> tuple[int, int, int]:
    """Block size per axis: about ``target_mm`` across, at most ``max_vox`` voxels, at least 1."""
    b = [int(np.clip(round(target_mm / max(s, 1e-6)), 1, max_vox)) for s in spacing]
    return b[0], b[1], b[2]


def rasterize(parts: Sequence[Part], shape: Sequence[int], index_to_canonical: np.ndarray, aa: float,
              background: float = -1000.0, labels: bool = False, block: Sequence[int] | None = None,
              reduce: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
    """Paint ``parts`` onto a grid of ``shape``; returns (float32 (K/reduce, I, J), uint8 labels or None).

    With ``reduce`` > 1, K must be a multiple of it; each output slice is the mean of ``reduce``
    consecutive grid slices (its label: the middle one's).
    """
    K, I, J = (int(s) for s in shape)
    if K % reduce:
        raise ValueError(f"K={K} is not a multiple of reduce={reduce}")
    m = np.asarray(index_to_canonical, float)
    step = np.linalg.norm(m[:3, :3], axis=0)
    bk, bi, bj = block if block is not None else block_shape(step)
    nbk, nbi, nbj = -(-K // bk), -(-I // bi), -(-J // bj)
    nvox = bk * bi * bj
    out = np.empty((K // reduce, I, J), np.float32)
    out_lab = np.empty((K // reduce, I, J), np.uint8) if labels else None

    # in-plane block centres (canonical, without the k part) and voxel offsets within a block
    ii, jj = np.meshgrid(np.arange(nbi) * bi + (bi - 1) / 2, np.arange(nbj) * bj + (bj - 1) / 2, indexing="ij")
    plane = np.stack([ii.ravel(), jj.ravel()], axis=1) @ m[:3, 1:3].T + m[:3, 3]
    k_axis = m[:3, 0]
    ok, oi, oj = np.meshgrid(np.arange(bk) - (bk - 1) / 2, np.arange(bi) - (bi - 1) / 2,
                             np.arange(bj) - (bj - 1) / 2, indexing="ij")
    offsets = (np.stack([ok, oi, oj], axis=-1).reshape(-1, 3) @ m[:3, :3].T).astype(np.float32)
    ox, oy, oz = (offsets[None, :, a].copy() for a in range(3))
    radius = float(np.linalg.norm(offsets, axis=1).max())
    inv = np.linalg.inv(m)
    half_aa = 0.5 * aa
    inv_aa = np.float32(1.0 / aa)
    bsize = np.array([bk, bi, bj])
    ranges = [_block_range(p.prim, inv, np.array([nbk, nbi, nbj]), bsize) for p in parts]

    per_slab = max(1, SLAB_VOXELS // (nvox * nbi * nbj))
    per_slab = max(reduce, per_slab - per_slab % reduce)  # slab depth in blocks, a multiple of reduce
    for kb0 in range(0, nbk, per_slab):
        kb1 = min(nbk, kb0 + per_slab)
        nk = kb1 - kb0
        kc = (np.arange(kb0, kb1) * bk + (bk - 1) / 2)
        centres = (kc[:, None, None] * k_axis + plane[None]).reshape(-1, 3).astype(np.float32)
        cx, cy, cz = (np.ascontiguousarray(centres[:, a]) for a in range(3))
        grid = np.arange(nk * nbi * nbj).reshape(nk, nbi, nbj)
        vol = np.full((nk * nbi * nbj, nvox), background, np.float32)
        lab = np.zeros((nk * nbi * nbj, nvox), np.uint8) if labels else None
        for part, rng in zip(parts, ranges):
            if rng is None:
                continue
            lo, hi = rng
            k0, k1 = max(lo[0], kb0), min(hi[0], kb1 - 1)
            if k0 > k1:
                continue
            t_part = time.perf_counter() if PROFILE is not None else 0.0
            ids = grid[k0 - kb0:k1 - kb0 + 1, lo[1]:hi[1] + 1, lo[2]:hi[2] + 1].ravel()
            fb = part.prim(cx[ids], cy[ids], cz[ids], bound=True)
            inside = fb < -(radius + half_aa)
            edge = ~inside & (fb <= radius + half_aa)
            value = np.float32(part.value)
            ids_in = ids[inside]
            if ids_in.size:
                vol[ids_in] = value
                if lab is not None:
                    lab[ids_in] = part.label
            ids_edge = ids[edge]
            per = max(1, CHUNK_VOXELS // nvox)
            for s in range(0, ids_edge.size, per):
                sel = ids_edge[s:s + per]
                f = part.prim(cx[sel][:, None] + ox, cy[sel][:, None] + oy, cz[sel][:, None] + oz)
                f *= -inv_aa
                f += 0.5
                alpha = np.clip(f, 0.0, 1.0, out=f)
                v = vol[sel]
                d = value - v
                d *= alpha
                v += d
                vol[sel] = v
                if lab is not None:
                    lv = lab[sel]
                    lv[alpha > 0.5] = part.label
                    lab[sel] = lv
            if PROFILE is not None:
                key = part.name.split("[")[0]
                PROFILE[key] = PROFILE.get(key, 0.0) + time.perf_counter() - t_part
        k_first, k_last = kb0 * bk, min(K, kb1 * bk)
        fine = _unblock(vol, nk, nbi, nbj, (bk, bi, bj))[:k_last - k_first, :I, :J]
        o0, o1 = k_first // reduce, k_last // reduce
        if reduce == 1:
            out[o0:o1] = fine
        else:
            np.mean(fine.reshape(o1 - o0, reduce, I, J), axis=1, out=out[o0:o1])
        if out_lab is not None:
            fl = _unblock(lab, nk, nbi, nbj, (bk, bi, bj))[:k_last - k_first, :I, :J]
            out_lab[o0:o1] = fl[reduce // 2::reduce]
    return out, out_lab


def _unblock(a: np.ndarray, nk: int, nbi: int, nbj: int, b) -> np.ndarray:
    bk, bi, bj = b
    return a.reshape(nk, nbi, nbj, bk, bi, bj).transpose(0, 3, 1, 4, 2, 5).reshape(nk * bk, nbi * bi, nbj * bj)


def _block_range(prim: Primitive, inv: np.ndarray, nb: np.ndarray, bsize: np.ndarray):
    """Inclusive block index range (first, last) covering the primitive's bounding box, or None."""
    lo, hi = np.asarray(prim.lo, float), np.asarray(prim.hi, float)
    if np.any(lo > hi):
        return None
    if not (np.all(np.abs(lo) < 1e8) and np.all(np.abs(hi) < 1e8)):
        return np.zeros(3, int), nb - 1
    corners = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])])
    idx = corners @ inv[:3, :3].T + inv[:3, 3]
    first = np.maximum(np.floor(idx.min(0) / bsize).astype(int), 0)
    last = np.minimum(np.floor(idx.max(0) / bsize).astype(int), nb - 1)
    if np.any(first > last):
        return None
    return first, last
