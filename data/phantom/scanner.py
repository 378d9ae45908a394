"""Scanner simulation: head pose, field of view, slice geometry, partial-volume slice profile,
blur, noise, dental metal streaks and padding outside the reconstruction circle.

Distributions (one draw per case from the scan generator; options can fix or switch off each):

=====================  ======================================================================
parameter              distribution
=====================  ======================================================================
pose yaw/pitch/roll    N(0, 5 deg) each, clipped to +-15 deg (rotation about the head centre)
head offset in FOV     U(-12, 12) mm in x and y (head centre vs. reconstruction centre)
table position         LPS translation x U(-20, 20), y U(-40, 20), z U(-250, 100) mm
pixel spacing          U(0.4, 1.0) mm, rounded to 0.001 mm (or FOV / size when size is given)
matrix (rows=cols)     round(FOV / pixel spacing) clipped to 512, FOV U(190, 250) mm
slice spacing          50 %: one of 0.625, 0.75, 1.0, 1.25, 2.0, 2.5, 3.0, 5.0 mm;
                       50 %: 40 % U(0.6, 1.25), 35 % U(1.25, 3), 25 % U(3, 5), rounded 0.01
uneven gaps            15 %: two sections, the second spacing x U(1.25, 2.0) (divided instead
                       when that exceeds 5 mm; either order), boundary at U(0.3, 0.7) of
                       the extent (the reader resamples them onto a uniform grid)
oblique grid           15 %: slices tilted about the patient x axis by +-U(5, 25) deg
protocol (z range)     head 45 %: chin - U(8, 40) mm to vertex + U(0, 8) mm;
                       face 35 %: chin - U(8, 30) mm to top of S/N + U(15, 45) mm;
                       cut_chin 12 %: starts U(3, 30) mm above menton (Me, maybe Go absent);
                       cut_top 8 %: ends U(3, 15) mm below S/N (those absent)
slice count            at most ``max_slices`` (default 400): beyond it the top is dropped
slice profile          box of width = slice spacing, sampled every <= 1.25 mm and averaged
bone texture           cancellous voxels (150-900 HU) modulated by +-U(0.15, 0.4) x (HU - 100)
                       with a smooth random field (off when noise=0)
blur                   Gaussian in-plane, SD U(0.35, 0.8) mm
noise                  SD U(3, 25) HU, slightly correlated (uniform white noise, 0.6 pixel
                       Gaussian blur, scaled to the SD)
dental metal           12 % (when teeth are present): 1-3 fillings (8000 HU before clipping)
                       with 6-12 radial bright/dark streaks in the slices through them
circle padding         25 %: outside the reconstruction circle set to -1024, -2048 or -3024
head holder            70 %: curved shell (4 mm, U(60, 250) HU) 3 mm behind the head, fixed
                       to the scanner (not to the head pose)
HU range               clipped to [-1024, 3071] (before padding), rounded to integers
=====================  ======================================================================
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from data.phantom.anatomy import Anatomy
from data.phantom.options import PROTOCOLS, PhantomOptions
from data.phantom.raster import Part, block_shape, rasterize
from data.phantom.sdf import Box, Cylinder, Intersect, Sphere, Subtract, rotation

PROTOCOL_P = (0.45, 0.35, 0.12, 0.08)
COMMON_SLICE_SPACINGS = (0.625, 0.75, 1.0, 1.25, 2.0, 2.5, 3.0, 5.0)
SUBSAMPLE_MM = 1.25
HU_MIN, HU_MAX = -1024.0, 3071.0
METAL_HU = 8000.0


@dataclass
class ScanSpec:
    """Every acquisition choice of one case (JSON-friendly)."""

    pose_deg: tuple[float, float, float]
    head_offset: tuple[float, float]
    table: tuple[float, float, float]
    pixel_spacing: float
    matrix: int
    slice_spacing: float
    uneven: dict | None
    tilt_deg: float
    protocol: str
    protocol_margins: tuple[float, float]
    blur_mm: float
    noise_hu: float
    metal_crowns: list[int] = field(default_factory=list)
    metal_radius: list[float] = field(default_factory=list)
    streaks_seed: int = 0
    padding: float | None = None
    holder_hu: float | None = None  # head holder behind the head (None: no holder)
    texture: float = 0.0  # relative amplitude of the cancellous-bone texture

    def as_dict(self) -> dict:
        return asdict(self)


def _clipped_normal(rng, sd, lim):
    return float(np.clip(rng.normal(0, sd), -lim, lim))


def sample_scan(rng: np.random.Generator, opts: PhantomOptions, n_crowns: int) -> ScanSpec:
    """Draw the acquisition (fixed draw order; options override after drawing so that switching
    one variation off leaves the others unchanged for the same seed)."""
    u = rng.uniform
    pose = tuple(_clipped_normal(rng, 5.0, 15.0) for _ in range(3))
    offset = (float(u(-12, 12)), float(u(-12, 12)))
    table = (float(u(-20, 20)), float(u(-40, 20)), float(u(-250, 100)))
    fov = float(u(190, 250))
    ps = round(float(u(0.4, 1.0)), 3)
    if u() < 0.5:
        ss = float(rng.choice(COMMON_SLICE_SPACINGS))
    else:
        r = u()
        lo, hi = (0.6, 1.25) if r < 0.4 else (1.25, 3.0) if r < 0.75 else (3.0, 5.0)
        ss = round(float(u(lo, hi)), 2)
    uneven_draw = u() < 0.15
    uneven = dict(ratio=round(float(u(1.25, 2.0)), 3), at=float(u(0.3, 0.7)), thin_first=bool(u() < 0.5))
    oblique_draw = u() < 0.15
    tilt = float(u(5, 25)) * (1 if u() < 0.5 else -1)
    protocol = str(rng.choice(PROTOCOLS, p=PROTOCOL_P))
    margins = (float(u(0, 1)), float(u(0, 1)))
    blur = float(u(0.35, 0.8))
    noise = float(u(3, 25))
    metal_draw = u() < 0.12
    n_metal = int(rng.integers(1, 4))
    metal_idx = [int(i) for i in rng.choice(max(n_crowns, 1), size=min(n_metal, max(n_crowns, 1)), replace=False)]
    metal_r = [float(u(1.8, 3.2)) for _ in metal_idx]
    streaks_seed = int(rng.integers(0, 2 ** 31 - 1))
    pad_draw = u() < 0.25
    pad_value = float(rng.choice([-1024.0, -2048.0, -3024.0]))
    holder_draw = u() < 0.7
    holder_hu = float(u(60, 250))
    texture = float(u(0.15, 0.4))

    # options override the draws
    if opts.pose is False:
        pose, offset = (0.0, 0.0, 0.0), (0.0, 0.0)
    if opts.pose_deg is not None:
        pose = tuple(float(a) for a in opts.pose_deg)
    if opts.size is not None and opts.pixel_spacing is None:
        ps = round(min(1.0, max(0.4, fov / opts.size)), 3)
    if opts.pixel_spacing is not None:
        ps = float(opts.pixel_spacing)
    matrix = int(opts.size) if opts.size is not None else int(min(512, 2 * round(fov / ps / 2)))
    if opts.slice_spacing is not None:
        ss = float(opts.slice_spacing)
    use_uneven = uneven_draw if opts.uneven is None else bool(opts.uneven)
    use_oblique = oblique_draw if opts.oblique is None else bool(opts.oblique)
    if opts.tilt_deg is not None:
        tilt, use_oblique = float(opts.tilt_deg), True
    if opts.protocol is not None:
        protocol = opts.protocol
    elif opts.fov_cut is False and protocol.startswith("cut"):
        protocol = "head" if margins[0] < 0.56 else "face"
    if opts.fov_cut is True and not protocol.startswith("cut"):
        protocol = "cut_chin" if margins[1] < 0.6 else "cut_top"
    use_metal = (metal_draw if opts.metal is None else bool(opts.metal)) and opts.teeth and n_crowns > 0
    if opts.noise is not None:
        noise = float(opts.noise)
    if opts.blur is not None:
        blur = float(opts.blur)
    return ScanSpec(
        pose_deg=pose, head_offset=offset, table=table, pixel_spacing=ps, matrix=matrix, slice_spacing=ss,
        uneven=uneven if use_uneven else None, tilt_deg=tilt if use_oblique else 0.0, protocol=protocol,
        protocol_margins=margins, blur_mm=blur, noise_hu=noise,
        metal_crowns=metal_idx if use_metal else [], metal_radius=metal_r if use_metal else [],
        streaks_seed=streaks_seed, padding=pad_value if (pad_draw and not opts.canonical) else None,
        holder_hu=holder_hu if (holder_draw and not opts.canonical) else None,
        texture=texture if (opts.noise is None or opts.noise > 0) else 0.0,
    )


# ----------------------------------------------------------------------------- geometry
def pose_matrix(spec: ScanSpec, centre: np.ndarray) -> np.ndarray:
    """4x4 canonical head frame -> LPS: rotate about ``centre`` by (yaw about z, pitch about x,
    roll about y), then translate by the table position."""
    yaw, pitch, roll = spec.pose_deg
    r = rotation((0, 0, 1), yaw) @ rotation((1, 0, 0), pitch) @ rotation((0, 1, 0), roll)
    m = np.eye(4)
    m[:3, :3] = r
    m[:3, 3] = centre - r @ centre + np.asarray(spec.table)
    return m


def _ds(values) -> list[float]:
    """Round as DICOM DS strings do in ``write_dicom_series`` (6 decimals)."""
    return [float(f"{float(v):.6f}"[:16]) for v in np.ravel(values)]


@dataclass
class SliceGeometry:
    positions: np.ndarray  # (K, 3) LPS of pixel (0, 0) of each slice, DS-rounded
    row_dir: np.ndarray  # unit, DS-rounded
    col_dir: np.ndarray
    normal: np.ndarray  # cross(col_dir, row_dir): the direction the reader sorts along
    pixel_spacing: float
    matrix: int
    distances: np.ndarray  # (K,) along the normal from the first slice
    sections: list[tuple[int, int, float]]  # (first slice, count, spacing) uniform runs
    origin: np.ndarray  # LPS of pixel (0, 0) of the first slice (exact)

    def index_affine(self, first: int, spacing: float, offset: float = 0.0) -> np.ndarray:
        """Affine (k, i, j) -> LPS of a uniform run starting at slice ``first``."""
        a = np.eye(4)
        a[:3, 0] = self.normal * spacing
        a[:3, 1] = self.row_dir * self.pixel_spacing
        a[:3, 2] = self.col_dir * self.pixel_spacing
        a[:3, 3] = self.origin + (self.distances[first] + offset) * self.normal
        return a


def slice_geometry(spec: ScanSpec, anatomy: Anatomy, pose: np.ndarray, max_slices: int,
                   keep_landmarks: bool = False) -> SliceGeometry:
    """Grid orientation, in-plane FOV and slice positions covering the protocol's z range.

    ``keep_landmarks``: shift the in-plane field of view (when it is large enough) so that every
    landmark is at least 4 mm inside it (used when FOV cuts are switched off)."""
    tilt = rotation((1, 0, 0), spec.tilt_deg)
    col_dir = np.array(_ds(tilt @ np.array([1.0, 0, 0])))
    row_dir = np.array(_ds(tilt @ np.array([0, 1.0, 0])))
    col_dir /= np.linalg.norm(col_dir)
    row_dir /= np.linalg.norm(row_dir)
    normal = np.cross(col_dir, row_dir)
    normal /= np.linalg.norm(normal)

    def lps(p):
        return pose[:3, :3] @ np.asarray(p, float) + pose[:3, 3]

    def d(p):
        return float(lps(p) @ normal)

    lmk, key = anatomy.landmarks, anatomy.key_points
    m0, m1 = spec.protocol_margins
    d_me = d(lmk["Me"])
    d_chin = min(d(key["chin_skin"]), d_me)
    top_face = max(d(lmk["N"]), d(lmk["S"]))
    if spec.protocol == "head":
        lo, hi = d_chin - (8 + 32 * m0), d(key["vertex"]) + 8 * m1
    elif spec.protocol == "face":
        lo, hi = d_chin - (8 + 22 * m0), top_face + 15 + 30 * m1
    elif spec.protocol == "cut_chin":
        lo, hi = d_me + 3 + 27 * m0, top_face + 15 + 30 * m1
    else:  # cut_top
        lo, hi = d_chin - (8 + 22 * m0), min(d(lmk["N"]), d(lmk["S"])) - (3 + 12 * m1)
    s = spec.slice_spacing
    if spec.uneven is None:
        n = max(2, int(math.floor((hi - lo) / s)) + 1)
        n = min(n, max_slices)
        gaps = [s] * (n - 1)
        sections = [(0, n, s)]
    else:
        ratio = spec.uneven["ratio"]
        s2 = round(s * ratio if s * ratio <= 5.0 else s / ratio, 4)  # stay within 0.6-5 mm
        first, second = (s, s2) if spec.uneven["thin_first"] else (s2, s)
        split = lo + spec.uneven["at"] * (hi - lo)
        n1 = max(3, int(round((split - lo) / first)) + 1)
        n2 = max(3, int(math.floor((hi - (lo + (n1 - 1) * first)) / second)))
        total = n1 + n2
        if total > max_slices:
            n2 = max(3, max_slices - n1)
        gaps = [first] * (n1 - 1) + [second] * n2
        sections = [(0, n1, first), (n1, n2, second)]
    distances = np.concatenate([[0.0], np.cumsum(gaps)])
    # in-plane: centre the reconstruction on the head centre (+ offset) projected on the plane
    centre = lps(key["head_centre"]) + spec.head_offset[0] * col_dir + spec.head_offset[1] * row_dir
    half = (spec.matrix - 1) / 2 * spec.pixel_spacing
    if keep_landmarks:
        pts = np.array([lps(p) for p in lmk.values()]) - centre
        for axis in (col_dir, row_dir):
            c = pts @ axis
            room = half - 4.0
            shift = 0.0
            if c.max() - c.min() > 2 * room:
                shift = (c.max() + c.min()) / 2
            elif c.max() > room:
                shift = c.max() - room
            elif c.min() < -room:
                shift = c.min() + room
            centre = centre + shift * axis
            pts = pts - shift * axis
    origin = centre - (centre @ normal) * normal + lo * normal - half * col_dir - half * row_dir
    positions = origin + np.outer(distances, normal)
    positions = np.array([_ds(p) for p in positions])
    return SliceGeometry(positions, row_dir, col_dir, normal, spec.pixel_spacing, spec.matrix, distances,
                         sections, origin)


# ----------------------------------------------------------------------------- acquisition
def acquire(parts: list[Part], geo: SliceGeometry, pose: np.ndarray, labels: bool = False):
    """Rasterise every slice with a box slice profile (sub-slices averaged).

    Returns (slices float32 (K, I, J), labels uint8 (K, I, J) or None).
    """
    inv_pose = np.linalg.inv(pose)
    outs, labs = [], []
    for first, count, spacing in geo.sections:
        n_sub = max(1, int(math.ceil(spacing / SUBSAMPLE_MM - 1e-6)))
        step = spacing / n_sub
        # the sub-slices of all slices of a uniform run form one uniform fine grid
        a = geo.index_affine(first, step, -spacing / 2 + step / 2)
        bs = block_shape((step, geo.pixel_spacing, geo.pixel_spacing))
        img, lb = rasterize(parts, (count * n_sub, geo.matrix, geo.matrix), inv_pose @ a, geo.pixel_spacing,
                            labels=labels, block=bs, reduce=n_sub)
        outs.append(img)
        labs.append(lb)
    slices = outs[0] if len(outs) == 1 else np.concatenate(outs)
    lab = None if not labels else (labs[0] if len(labs) == 1 else np.concatenate(labs))
    return slices, lab


def metal_parts(anatomy: Anatomy, spec: ScanSpec) -> tuple[list[Part], list[np.ndarray]]:
    """Fillings on the chosen tooth crowns (canonical)."""
    parts, centres = [], []
    for idx, r in zip(spec.metal_crowns, spec.metal_radius):
        c = anatomy.tooth_crowns[idx % len(anatomy.tooth_crowns)]
        parts.append(Part("dental metal", Sphere(c, r), METAL_HU, 21))
        centres.append(np.asarray(c, float))
    return parts, centres


def holder_parts(anatomy: Anatomy, spec: ScanSpec, pose: np.ndarray) -> list[Part]:
    """A curved head holder fixed to the scanner (LPS), just behind the back of the head, expressed
    in the canonical head frame."""
    if spec.holder_hu is None:
        return []
    r = pose[:3, :3]
    inv = np.linalg.inv(pose)

    def can(p):
        return inv[:3, :3] @ np.asarray(p, float) + inv[:3, 3]

    back = pose[:3, :3] @ anatomy.key_points["back"] + pose[:3, 3]
    radius, thick = 95.0, 4.0
    axis_pt = back - (radius - 3.0) * np.array([0, 1.0, 0])
    start = axis_pt - np.array([0, 0, 150.0])
    outer = Cylinder(can(start), r.T @ np.array([0, 0, 1.0]), 230.0, radius + thick)
    inner = Cylinder(can(start - np.array([0, 0, 1.0])), r.T @ np.array([0, 0, 1.0]), 232.0, radius)
    behind = Box(can(axis_pt + np.array([0, 60.0 + radius / 2, -35.0])), (radius + 10, radius / 2 + 1, 116.0), axes=r.T)
    return [Part("head holder", Intersect(Subtract(outer, inner), behind), spec.holder_hu, 0)]


def degrade(slices: np.ndarray, geo: SliceGeometry, spec: ScanSpec, rng: np.random.Generator,
            metal_lps: list[np.ndarray]) -> np.ndarray:
    """Blur, streaks, noise, clipping, padding and integer rounding (in place, returns slices)."""
    ps = geo.pixel_spacing
    if spec.blur_mm > 0:
        sig = spec.blur_mm / ps
        if sig >= 0.2:
            for k in range(slices.shape[0]):
                cv2.GaussianBlur(slices[k], (0, 0), sig, dst=slices[k], borderType=cv2.BORDER_REPLICATE)
    if spec.texture > 0:
        _bone_texture(slices, spec.texture, rng)
    if metal_lps:
        _streaks(slices, geo, spec, metal_lps)
    if spec.noise_hu > 0:
        nsig = 0.6
        ker = cv2.getGaussianKernel(int(2 * math.ceil(3 * nsig) + 1), nsig).astype(np.float64)
        gain = float(np.sqrt(np.sum(np.outer(ker, ker) ** 2)))
        # uniform white noise (faster to draw than normal); after the correlating blur it is close
        # to Gaussian with the requested SD
        scale = np.float32(spec.noise_hu / gain * math.sqrt(12.0))
        for k in range(slices.shape[0]):
            n = rng.random(slices.shape[1:], dtype=np.float32)
            n -= np.float32(0.5)
            cv2.GaussianBlur(n, (0, 0), nsig, dst=n, borderType=cv2.BORDER_REFLECT)
            n *= scale
            slices[k] += n
    np.clip(slices, HU_MIN, HU_MAX, out=slices)
    if spec.padding is not None:
        c = (geo.matrix - 1) / 2
        ii, jj = np.mgrid[0:geo.matrix, 0:geo.matrix]
        outside = (ii - c) ** 2 + (jj - c) ** 2 > (geo.matrix / 2) ** 2
        slices[:, outside] = spec.padding
    np.rint(slices, out=slices)
    return slices


def _bone_texture(slices: np.ndarray, amount: float, rng: np.random.Generator) -> None:
    """Spongy texture in cancellous bone (about 150-900 HU): a smooth random field drawn at half
    resolution, scaled by ``amount`` times the voxel's HU above 100."""
    k_n, rows, cols = slices.shape
    small = (max(2, (cols + 1) // 2), max(2, (rows + 1) // 2))
    gain = np.float32(2.0 * amount)
    for k in range(k_n):
        sl = slices[k]
        weight = (sl > 150) & (sl < 900)
        if not weight.any():
            continue
        t = rng.random((small[1], small[0]), dtype=np.float32)
        t -= np.float32(0.5)
        t = cv2.resize(t, (cols, rows), interpolation=cv2.INTER_LINEAR)
        t *= weight
        t *= gain
        t *= sl - np.float32(100.0)
        sl += t


def _streaks(slices: np.ndarray, geo: SliceGeometry, spec: ScanSpec, metal_lps: list[np.ndarray]) -> None:
    rng = np.random.default_rng(spec.streaks_seed)
    ps = geo.pixel_spacing
    jj, ii = np.meshgrid(np.arange(geo.matrix, dtype=np.float32), np.arange(geo.matrix, dtype=np.float32))
    for c, r in zip(metal_lps, spec.metal_radius):
        rel = c - geo.origin
        dk = rel @ geo.normal
        ic, jc = rel @ geo.row_dir / ps, rel @ geo.col_dir / ps
        n_lines = int(rng.integers(6, 13))
        angles = rng.uniform(0, np.pi, n_lines)
        amps = rng.uniform(200, 900, n_lines) * np.where(np.arange(n_lines) % 2 == 0, 1, -1)
        width = rng.uniform(0.6, 1.5, n_lines) / ps
        decay = rng.uniform(30, 80) / ps
        reach = r + 1.0 + spec.slice_spacing / 2
        ks = np.nonzero(np.abs(geo.distances - dk) <= reach)[0]
        if ks.size == 0:
            continue
        di, dj = ii - np.float32(ic), jj - np.float32(jc)
        rad = np.sqrt(di * di + dj * dj)
        pattern = np.zeros_like(rad)
        for a, amp, w in zip(angles, amps, width):
            perp = np.abs(di * np.float32(math.cos(a)) - dj * np.float32(math.sin(a)))
            pattern += np.float32(amp) * np.exp(-0.5 * (perp / np.float32(w)) ** 2)
        pattern *= np.exp(-rad / np.float32(decay)) * (rad > r / ps)
        for k in ks:
            weight = 1.0 - abs(geo.distances[k] - dk) / reach
            slices[k] += np.float32(weight) * pattern
