"""Implicit (signed-distance) primitives for the synthetic head, evaluated with vectorised numpy.

Every primitive is a callable ``prim(x, y, z, bound=False) -> f`` on float32 coordinate arrays
(canonical head frame, mm; any common shape) returning float32 ``f``: negative inside, zero on
the surface, positive outside. Two flavours:

* ``bound=False`` (default): a good estimate of the signed Euclidean distance near the surface;
  the rasteriser turns it into partial-volume coverage ``clip(0.5 - f / voxel, 0, 1)``.
* ``bound=True``: a conservative estimate with Lipschitz constant <= 1, so
  ``|f(p) - f(q)| <= |p - q|``; the rasteriser uses it to decide that a whole block of voxels is
  certainly inside or outside without looking at every voxel.

For exact SDFs (capsule, round cone, box, cylinder, ribbon) both are the same. Each primitive
has a canonical bounding box ``lo``/``hi`` (mm) outside which it is certainly outside.

The zero level set is exact in both flavours, which is what lets ``anatomy`` compute every
landmark as an exact point of a primitive's surface.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

F32 = np.float32
INF = 1e9


def _v(p: Sequence[float]) -> np.ndarray:
    return np.asarray(p, dtype=float).reshape(3)


def rotation(axis: Sequence[float], angle_deg: float) -> np.ndarray:
    """3x3 rotation matrix about ``axis`` by ``angle_deg`` (right hand)."""
    a = _v(axis) / np.linalg.norm(axis)
    t = np.radians(angle_deg)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * (k @ k)


class Frame:
    """Local coordinates ``q = axes @ (p - origin)``; ``axes`` rows are the local unit axes."""

    def __init__(self, origin: Sequence[float], axes: np.ndarray | None = None):
        self.origin = _v(origin)
        if axes is not None:
            axes = np.asarray(axes, float)
            if np.allclose(axes, np.eye(3)):
                axes = None
        self.axes = axes
        self._o = [float(c) for c in self.origin]
        self._a = None if axes is None else [[float(c) for c in row] for row in axes]

    def local(self, x, y, z):
        dx, dy, dz = x - self._o[0], y - self._o[1], z - self._o[2]
        if self._a is None:
            return dx, dy, dz
        (a, b, c), (d, e, f), (g, h, i) = self._a
        return a * dx + b * dy + c * dz, d * dx + e * dy + f * dz, g * dx + h * dy + i * dz

    def to_canonical(self, q: Sequence[float]) -> np.ndarray:
        """Local point -> canonical point (for landmarks)."""
        q = _v(q)
        return self.origin + (q if self.axes is None else self.axes.T @ q)

    def box_bounds(self, lo: Sequence[float], hi: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """Canonical AABB of the local box [lo, hi]."""
        lo, hi = _v(lo), _v(hi)
        corners = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])])
        pts = np.array([self.to_canonical(c) for c in corners])
        return pts.min(0), pts.max(0)


class Primitive:
    """Base class: subclasses set ``lo``, ``hi`` and implement ``__call__``."""

    lo: np.ndarray
    hi: np.ndarray

    def __call__(self, x, y, z, bound: bool = False):  # pragma: no cover - interface
        raise NotImplementedError

    def at(self, point: Sequence[float], bound: bool = False) -> float:
        """f at one canonical point (float64 in, float out; for landmark checks)."""
        p = np.asarray(point, np.float32).reshape(3, 1)
        return float(self(p[0], p[1], p[2], bound)[0])


# ----------------------------------------------------------------------------- ellipsoids
class Ovoid(Primitive):
    """Ellipsoid whose semi-axis along each local axis may differ on the negative and positive side
    (an "egg" made of eight ellipsoid octants; continuous, exact zero set).

    ``neg``/``pos``: semi-axes (3,) towards -u/+u, -v/+v, -w/+w; ``axes``: local axes (rows) or None.
    """

    def __init__(self, center, neg, pos=None, axes=None):
        self.frame = Frame(center, axes)
        self.neg = _v(neg)
        self.pos = self.neg.copy() if pos is None else _v(pos)
        if np.any(self.neg <= 0) or np.any(self.pos <= 0):
            raise ValueError("ovoid semi-axes must be positive")
        self.amin = float(min(self.neg.min(), self.pos.min()))
        self.sym = [bool(np.isclose(n, p)) for n, p in zip(self.neg, self.pos)]
        self.lo, self.hi = self.frame.box_bounds(-self.neg, self.pos)

    def _semi(self, q, axis):
        if self.sym[axis]:
            return F32(self.pos[axis])
        return np.where(q < 0, F32(self.neg[axis]), F32(self.pos[axis]))

    def __call__(self, x, y, z, bound=False):
        u, v, w = self.frame.local(x, y, z)
        au, av, aw = self._semi(u, 0), self._semi(v, 1), self._semi(w, 2)
        qu, qv, qw = u / au, v / av, w / aw
        k0 = np.sqrt(qu * qu + qv * qv + qw * qw)
        if bound:
            return (k0 - 1.0) * self.amin
        ru, rv, rw = qu / au, qv / av, qw / aw
        k1 = np.sqrt(ru * ru + rv * rv + rw * rw)
        return k0 * (k0 - 1.0) / np.maximum(k1, F32(1e-6))

    def semi_along(self, direction: Sequence[float]) -> float:
        """Semi-axis length used on the side of local ``direction`` (a local unit axis +-)."""
        d = _v(direction)
        i = int(np.argmax(np.abs(d)))
        return float(self.pos[i] if d[i] > 0 else self.neg[i])

    def extreme_point(self, direction: Sequence[float]) -> np.ndarray:
        """Canonical surface point furthest along canonical ``direction`` (exact for an ellipsoid
        with symmetric semi-axes, i.e. ``neg == pos``)."""
        if not all(self.sym):
            raise ValueError("extreme_point needs a symmetric ellipsoid")
        d = _v(direction) / np.linalg.norm(direction)
        axes = np.eye(3) if self.frame.axes is None else self.frame.axes
        dl = axes @ d  # direction in local coordinates
        a2 = self.pos ** 2
        q = a2 * dl / np.sqrt(np.sum(a2 * dl * dl))
        return self.frame.to_canonical(q)


def Ellipsoid(center, semi, axes=None) -> Ovoid:
    return Ovoid(center, semi, semi, axes)


def Sphere(center, r) -> Ovoid:
    return Ovoid(center, (r, r, r))


# ------------------------------------------------------------------------- swept shapes
class Capsule(Primitive):
    """Points within ``r`` of the segment ``a``-``b`` (exact SDF)."""

    def __init__(self, a, b, r):
        self.a, self.b, self.r = _v(a), _v(b), float(r)
        d = self.b - self.a
        self.len2 = float(d @ d)
        self._a = [float(c) for c in self.a]
        self._d = [float(c) for c in d]
        self.lo = np.minimum(self.a, self.b) - self.r
        self.hi = np.maximum(self.a, self.b) + self.r

    def __call__(self, x, y, z, bound=False):
        px, py, pz = x - self._a[0], y - self._a[1], z - self._a[2]
        dx, dy, dz = self._d
        if self.len2 > 0:
            h = np.clip((px * dx + py * dy + pz * dz) * F32(1.0 / self.len2), 0.0, 1.0)
            px, py, pz = px - h * dx, py - h * dy, pz - h * dz
        return np.sqrt(px * px + py * py + pz * pz) - self.r


def _round_cone(comps, a, b, r1, r2):
    """Exact SDF of a round cone (spheres r1 at a, r2 at b, tangent cone between) in any dimension.

    ``comps``: list of coordinate arrays; ``a``, ``b``: points of the same dimension (float lists).
    Formulated with a unit axis so every quantity stays in mm (float32 safe).
    """
    d = [bj - aj for aj, bj in zip(a, b)]
    length = float(np.sqrt(sum(c * c for c in d)))
    if length < 1e-9:
        pa = [c - aj for c, aj in zip(comps, a)]
        return np.sqrt(sum(p * p for p in pa)) - max(r1, r2)
    n = [c / length for c in d]
    rr = r1 - r2
    a2 = length * length - rr * rr
    if a2 <= 0:  # one sphere contains the other
        big, rb = (a, r1) if r1 >= r2 else (b, r2)
        pa = [c - aj for c, aj in zip(comps, big)]
        return np.sqrt(sum(p * p for p in pa)) - rb
    pa = [c - aj for c, aj in zip(comps, a)]
    y = sum(p * nj for p, nj in zip(pa, n))
    zz = y - length
    x2 = sum((p - nj * y) ** 2 for p, nj in zip(pa, n))
    k = np.sign(rr) * rr * rr * x2
    out = (np.sqrt(x2 * F32(a2)) + y * F32(rr)) * F32(1.0 / length) - F32(r1)
    c_end = np.sign(zz) * F32(a2) * zz * zz > k
    c_start = np.sign(y) * F32(a2) * y * y < k
    out = np.where(c_start, np.sqrt(x2 + y * y) - F32(r1), out)
    out = np.where(c_end, np.sqrt(x2 + zz * zz) - F32(r2), out)
    return out


class RoundCone(Primitive):
    """Sphere ``r1`` at ``a``, sphere ``r2`` at ``b`` and the tangent cone between (exact SDF)."""

    def __init__(self, a, b, r1, r2):
        self.a, self.b, self.r1, self.r2 = _v(a), _v(b), float(r1), float(r2)
        self.lo = np.minimum(self.a - self.r1, self.b - self.r2)
        self.hi = np.maximum(self.a + self.r1, self.b + self.r2)
        self._a, self._b = [float(c) for c in self.a], [float(c) for c in self.b]

    def __call__(self, x, y, z, bound=False):
        return _round_cone([x, y, z], self._a, self._b, self.r1, self.r2)

    def tip(self) -> np.ndarray:
        """Surface point on the axis beyond ``b`` (the tip of a spine)."""
        d = (self.b - self.a) / np.linalg.norm(self.b - self.a)
        return self.b + self.r2 * d


class Ribbon(Primitive):
    """A vertical ribbon swept along a segment, thickened by ``r``: the points within ``r`` of
    {a + t (b - a) + s e_z : t in [0, 1], |s| <= h(t)}, h growing linearly from ``h`` at ``a`` to
    ``hb`` at ``b`` (default ``h``). Cross-section: a vertical stadium 2(h + r) tall and 2r thick.
    Nearly exact (exact when a and b are at the same height and h is constant); the distance it
    returns is never below the true one, so nothing is painted outside the exact shape."""

    def __init__(self, a, b, h, r, hb=None):
        self.a, self.b, self.h, self.r = _v(a), _v(b), float(h), float(r)
        self.hb = self.h if hb is None else float(hb)
        d = self.b - self.a
        self._a = [float(c) for c in self.a]
        self._dx, self._dy, self._dz = float(d[0]), float(d[1]), float(d[2])
        self._dh = self.hb - self.h
        self.len2 = self._dx ** 2 + self._dy ** 2
        ext_a = np.array([self.r, self.r, self.h + self.r])
        ext_b = np.array([self.r, self.r, self.hb + self.r])
        self.lo = np.minimum(self.a - ext_a, self.b - ext_b)
        self.hi = np.maximum(self.a + ext_a, self.b + ext_b)

    def __call__(self, x, y, z, bound=False):
        px, py, pz = x - self._a[0], y - self._a[1], z - self._a[2]
        if self.len2 > 0:
            t = np.clip((px * self._dx + py * self._dy) * F32(1.0 / self.len2), 0.0, 1.0)
            px, py, pz = px - t * self._dx, py - t * self._dy, pz - t * self._dz
            hh = self.h + t * self._dh if self._dh else self.h
        else:
            hh = self.h
        pz = pz - np.clip(pz, -hh, hh)
        f = np.sqrt(px * px + py * py + pz * pz) - self.r
        return f * F32(0.8) if bound else f  # margin: the closest-point rule is not exactly 1-Lipschitz

    def lowest(self) -> np.ndarray:
        la = self.a[2] - self.h
        lb = self.b[2] - self.hb
        if la <= lb:
            return self.a - np.array([0, 0, self.h + self.r])
        return self.b - np.array([0, 0, self.hb + self.r])


class Box(Primitive):
    """Box of half extents ``half`` in a frame, edges rounded by ``rounding`` (exact SDF)."""

    def __init__(self, center, half, axes=None, rounding: float = 0.0):
        self.frame = Frame(center, axes)
        self.half = _v(half)
        self.rounding = float(rounding)
        self._h = [float(c) - self.rounding for c in self.half]
        self.lo, self.hi = self.frame.box_bounds(-self.half, self.half)

    def __call__(self, x, y, z, bound=False):
        u, v, w = self.frame.local(x, y, z)
        qu, qv, qw = np.abs(u) - self._h[0], np.abs(v) - self._h[1], np.abs(w) - self._h[2]
        mu, mv, mw = np.maximum(qu, 0), np.maximum(qv, 0), np.maximum(qw, 0)
        outside = np.sqrt(mu * mu + mv * mv + mw * mw)
        inside = np.minimum(np.maximum(qu, np.maximum(qv, qw)), 0)
        return outside + inside - self.rounding


class Cylinder(Primitive):
    """Capped cylinder of radius ``r`` along the local u axis, from u=0 to u=``length`` (flat ends,
    exact SDF). ``frame`` origin is the centre of the u=0 cap."""

    def __init__(self, start, direction, length, r):
        d = _v(direction) / np.linalg.norm(direction)
        helper = np.array([0, 0, 1.0]) if abs(d[2]) < 0.9 else np.array([1.0, 0, 0])
        e1 = np.cross(d, helper)
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(d, e1)
        self.frame = Frame(start, np.stack([d, e1, e2]))
        self.length, self.r = float(length), float(r)
        self.lo, self.hi = self.frame.box_bounds((0, -r, -r), (length, r, r))

    def __call__(self, x, y, z, bound=False):
        u, v, w = self.frame.local(x, y, z)
        du = np.abs(u - self.length * 0.5) - self.length * 0.5
        dr = np.sqrt(v * v + w * w) - self.r
        mu, mr = np.maximum(du, 0), np.maximum(dr, 0)
        return np.minimum(np.maximum(du, dr), 0) + np.sqrt(mu * mu + mr * mr)


class Extruded2D(Primitive):
    """A planar shape (union of 2D round cones in the local (u, v) plane) extruded to thickness
    ``2 * half`` along local w, with edges rounded by ``rounding``. In the mid plane (w = 0) the
    surface is exactly the 2D outline. ``cones``: list of ((u0, v0), (u1, v1), r0, r1)."""

    def __init__(self, origin, axes, cones, half, rounding):
        self.frame = Frame(origin, axes)
        self.cones = [([float(c) for c in a], [float(c) for c in b], float(r0), float(r1)) for a, b, r0, r1 in cones]
        self.half, self.rounding = float(half), float(rounding)
        pts = []
        for a, b, r0, r1 in self.cones:
            pts += [(a[0] - r0, a[1] - r0), (a[0] + r0, a[1] + r0), (b[0] - r1, b[1] - r1), (b[0] + r1, b[1] + r1)]
        pts = np.array(pts)
        self.lo, self.hi = self.frame.box_bounds((*pts.min(0), -self.half), (*pts.max(0), self.half))

    def outline(self, u, v):
        f = None
        for a, b, r0, r1 in self.cones:
            g = _round_cone([u, v], a, b, r0, r1)
            f = g if f is None else np.minimum(f, g)
        return f

    def __call__(self, x, y, z, bound=False):
        u, v, w = self.frame.local(x, y, z)
        rho = self.rounding
        dx = self.outline(u, v) + rho
        dy = np.abs(w) - (self.half - rho)
        mx, my = np.maximum(dx, 0), np.maximum(dy, 0)
        return np.minimum(np.maximum(dx, dy), 0) + np.sqrt(mx * mx + my * my) - rho


# ------------------------------------------------------------------------------ skull floor
class Floor(Primitive):
    """Inside = above a smooth height field ``z = F(x, y) - drop`` (the cranial floor).

    ``F`` steps from the anterior cranial fossa (``z_ant``, in front of the sphenoid ridge
    ``y = y_ridge + k_ridge |x|``) down to the middle fossa (``z_mid`` laterally, rising to
    ``z_mid_centre`` at the midline) and again to the posterior fossa (``z_post``) behind the
    petrous ridges ``y = y_petrous + k_petrous |x|``. Steps are logistic with width ``w`` mm.
    """

    def __init__(self, z_ant, z_mid, z_mid_centre, z_post, y_ridge, k_ridge, y_petrous, k_petrous,
                 w=3.0, mid_halfwidth=14.0, drop=0.0):
        self.p = dict(z_ant=z_ant, z_mid=z_mid, z_mid_centre=z_mid_centre, z_post=z_post, y_ridge=y_ridge,
                      k_ridge=k_ridge, y_petrous=y_petrous, k_petrous=k_petrous, w=w, mid_halfwidth=mid_halfwidth)
        self.p = {k: float(v) for k, v in self.p.items()}
        self.drop = float(drop)
        self.lo = np.full(3, -INF)
        self.hi = np.full(3, INF)
        xs, ys = np.meshgrid(np.linspace(-120, 120, 241), np.linspace(-150, 150, 301), indexing="ij")
        _, gx, gy = self.height(xs.astype(np.float32), ys.astype(np.float32), grad=True)
        self.gmax = float(np.sqrt(gx ** 2 + gy ** 2).max()) * 1.1 + 0.05

    def height(self, x, y, grad=False):
        p = self.p
        ax = np.sqrt(x * x + 1.0)  # smooth |x|
        dax = x / ax
        g = np.exp(-(x * x) / (p["mid_halfwidth"] ** 2))
        zm = p["z_mid"] + (p["z_mid_centre"] - p["z_mid"]) * g
        s1 = 1.0 / (1.0 + np.exp(-(y - p["y_ridge"] - p["k_ridge"] * ax) / p["w"]))
        s2 = 1.0 / (1.0 + np.exp(-(y - p["y_petrous"] - p["k_petrous"] * ax) / p["w"]))
        f = p["z_ant"] + (zm - p["z_ant"]) * s1 + (p["z_post"] - zm) * s2 - self.drop
        if not grad:
            return f
        dzm = (p["z_mid_centre"] - p["z_mid"]) * g * (-2.0 * x / p["mid_halfwidth"] ** 2)
        ds1 = s1 * (1 - s1) / p["w"]
        ds2 = s2 * (1 - s2) / p["w"]
        gy = (zm - p["z_ant"]) * ds1 + (p["z_post"] - zm) * ds2
        gx = (dzm * s1 + (zm - p["z_ant"]) * ds1 * (-p["k_ridge"] * dax)
              - dzm * s2 + (p["z_post"] - zm) * ds2 * (-p["k_petrous"] * dax))
        return f, gx, gy

    def __call__(self, x, y, z, bound=False):
        if bound:
            return (self.height(x, y) - z) * F32(1.0 / np.sqrt(1.0 + self.gmax ** 2))
        f, gx, gy = self.height(x, y, grad=True)
        return (f - z) / np.sqrt(1.0 + gx * gx + gy * gy)


# ------------------------------------------------------------------------------------ CSG
class _Combine(Primitive):
    """Pointwise ``combine`` (max: intersection, min: union) of the primitives' fields."""

    combine = staticmethod(np.maximum)

    def __init__(self, *prims: Primitive):
        self.prims = prims
        inner = self.combine is np.maximum  # an intersection's box is the overlap of the boxes
        self.lo = (np.max if inner else np.min)([p.lo for p in prims], axis=0)
        self.hi = (np.min if inner else np.max)([p.hi for p in prims], axis=0)

    def __call__(self, x, y, z, bound=False):
        f = self.prims[0](x, y, z, bound)
        for p in self.prims[1:]:
            f = self.combine(f, p(x, y, z, bound))
        return f


class Intersect(_Combine):
    combine = staticmethod(np.maximum)


class Union(_Combine):
    combine = staticmethod(np.minimum)


class Subtract(Primitive):
    """``a`` minus ``b``."""

    def __init__(self, a: Primitive, b: Primitive):
        self.a, self.b = a, b
        self.lo, self.hi = a.lo, a.hi

    def __call__(self, x, y, z, bound=False):
        return np.maximum(self.a(x, y, z, bound), -self.b(x, y, z, bound))


class Offset(Primitive):
    """``prim`` grown by ``d`` mm (shrunk when ``d`` < 0)."""

    def __init__(self, prim: Primitive, d: float):
        self.prim, self.d = prim, float(d)
        self.lo, self.hi = prim.lo - max(self.d, 0), prim.hi + max(self.d, 0)

    def __call__(self, x, y, z, bound=False):
        return self.prim(x, y, z, bound) - self.d
