"""Parametric head anatomy: implicit primitives to paint, and the 16 landmarks computed exactly
from the same primitives.

Canonical head frame: LPS axes (x to the patient's left, y posterior, z superior), millimetres,
origin midway between the porions on the Frankfort horizontal (FH, the plane z = 0 for a
symmetric head). The right side is x < 0.

How each landmark is tied to the geometry (all exact, no sampling):

=====  ======================================================================================
S      centroid of the midsagittal section of the sella fossa: a sphere carved into the
       sphenoid body, cut by the plane of the tuberculum / dorsum (circular-segment centroid)
N      most anterior point of the frontonasal root (a transverse capsule) in the midline,
       between the glabella (brow ridge, in front above) and the nasal bones (below)
Ba     midpoint of the inner edge of the straight anterior side of the foramen magnum ring
       (capsule polygon), i.e. the anterior margin of the foramen in the midline
ANS    tip of the anterior nasal spine (round cone pointing forward)
PNS    tip of the posterior nasal spine (round cone at the back of the palate plate)
Me     lowest point of the mandibular arch (vertical ribbon chain, lowest at its midline vertex)
Po     top of the external acoustic meatus where the canal leaves the tympanic bone
       (the upper edge of the canal at the flat lateral end of the tympanic cylinder)
Or     lowest point of the orbital rim ring (capsule polygon around an ellipse, lowest vertex)
Co     top of the condylar head (ellipsoid rotated about the vertical only)
Go     on the rounded mandibular angle: the bisector of the ramus (posterior border) and body
       (lower border) tangents meets the bone at the angle circle, in the mid-plane of the
       extruded ramus/body outline
Zy     most lateral point of the zygomatic arch (vertical ribbon chain whose most lateral
       vertex is built in), at mid-height of the arch
=====  ======================================================================================
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from data.landmark_defs import load_definition
from data.phantom.raster import Part
from data.phantom.sdf import (Box, Capsule, Cylinder, Ellipsoid, Extruded2D, Floor, Intersect, Offset, Ovoid,
                              Primitive, Ribbon, RoundCone, Sphere, Subtract, Union, rotation)
from data.phantom.shape import HeadShape

LANDMARK_SET = "craniofacial16"

LABELS = {
    "air": 0, "soft": 1, "fat": 2, "brain": 3, "csf": 4, "eye": 5, "skull": 6, "skull_base": 7,
    "sphenoid": 8, "pituitary": 9, "temporal": 10, "face": 11, "orbital_rim": 12, "nasal": 13,
    "maxilla": 14, "palate": 15, "zygomatic_arch": 16, "mandible": 17, "teeth": 18, "spine": 19,
    "airway": 20, "metal": 21, "cartilage": 22,
}

# which labelled structure carries each landmark (tests check the label map there)
LANDMARK_STRUCTURE = {
    "S": "pituitary", "N": "nasal", "Ba": "skull_base", "ANS": "maxilla", "PNS": "palate", "Me": "mandible",
    "PoR": "temporal", "PoL": "temporal", "OrR": "orbital_rim", "OrL": "orbital_rim", "CoR": "mandible",
    "CoL": "mandible", "GoR": "mandible", "GoL": "mandible", "ZyR": "zygomatic_arch", "ZyL": "zygomatic_arch",
}

EZ = np.array([0.0, 0.0, 1.0])
EX = np.array([1.0, 0.0, 0.0])


def _u(v) -> np.ndarray:
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


def _p(x, y, z) -> np.ndarray:
    return np.array([x, y, z], float)


@dataclass
class Anatomy:
    """Everything the rasteriser and the landmark writer need, in the canonical frame."""

    parts: list[Part]
    landmarks: dict[str, np.ndarray]  # canonical mm, exact
    carriers: dict[str, Primitive]  # primitive whose surface (or inside) carries the landmark
    tooth_crowns: list[np.ndarray] = field(default_factory=list)  # candidate sites for metal
    extent: tuple[np.ndarray, np.ndarray] | None = None  # canonical AABB of the skin
    key_points: dict[str, np.ndarray] = field(default_factory=dict)  # vertex, chin_skin, ...

    def landmark_array(self, names: list[str]) -> np.ndarray:
        return np.array([self.landmarks[n] for n in names], float)


def segment_centroid_offset(radius: float, chord_height: float) -> float:
    """z of the centroid of a disc of ``radius`` with the cap above the chord at ``chord_height``
    (relative to the centre, 0 <= chord_height < radius) removed; negative (below the centre)."""
    c = chord_height
    alpha = math.acos(c / radius)
    cap_area = radius ** 2 * (alpha - math.sin(alpha) * math.cos(alpha))
    cap_z = 2 * radius * math.sin(alpha) ** 3 / (3 * (alpha - math.sin(alpha) * math.cos(alpha)))
    return -cap_area * cap_z / (math.pi * radius ** 2 - cap_area)


def round_cone_normal(a2: np.ndarray, b2: np.ndarray, r1: float, r2: float, side: np.ndarray) -> np.ndarray:
    """Outward unit normal of the straight side of a 2D round cone (a, r1) -> (b, r2), on the side
    of the unit vector ``side`` (any vector pointing roughly outwards)."""
    axis = _u(b2 - a2)
    perp = np.array([-axis[1], axis[0]])
    if perp @ side < 0:
        perp = -perp
    s = (r1 - r2) / np.linalg.norm(b2 - a2)
    return perp * math.sqrt(1 - s * s) + axis * s


class _Paint:
    """Collects parts in painting order."""

    def __init__(self):
        self.parts: list[Part] = []

    def add(self, name: str, prim: Primitive, value: float, label: str) -> Primitive:
        self.parts.append(Part(name, prim, float(value), LABELS[label]))
        return prim

    def bone(self, name: str, prims: list[Primitive], cortical: float, cancellous: float, label: str,
             shell: float = 1.8) -> None:
        """Compact shell then cancellous core (each primitive shrunk by ``shell``)."""
        for i, p in enumerate(prims):
            self.add(f"{name}[{i}]", p, cortical, label)
        for i, p in enumerate(prims):
            self.add(f"{name}[{i}] core", Offset(p, -shell), cancellous, label)


def _chain(points, h, r) -> list[Ribbon]:
    return [Ribbon(a, b, h, r) for a, b in zip(points[:-1], points[1:])]


def _capsule_loop(points, r) -> list[Capsule]:
    pts = list(points)
    return [Capsule(a, b, r) for a, b in zip(pts, pts[1:] + pts[:1])]


def _bezier(p0, p1, p2, ts):
    return [(1 - t) ** 2 * p0 + 2 * t * (1 - t) * p1 + t ** 2 * p2 for t in ts]


class _Head:
    """Shared state while one head is built: shape, scale, tissue values, the paint list, the
    landmarks with their carrier primitives, and the anchor points regions hand to each other."""

    def __init__(self, h: HeadShape, teeth: bool):
        self.h, self.g, self.teeth = h, h.size, teeth
        self.cort, self.canc = h.cortical_hu, h.cancellous_hu
        self.dense = self.cort * 1.15
        self.P = _Paint()
        self.lm: dict[str, np.ndarray] = {}
        self.carriers: dict[str, Primitive] = {}
        self.key: dict[str, np.ndarray] = {}
        self.crowns: list[np.ndarray] = []
        rng = np.random.default_rng(h.detail_seed)
        self.cell_offsets = [(rng.uniform(-1, 1, 3), rng.uniform(1.6, 2.6)) for _ in range(10)]

    def side_name(self, prefix: str, s: int) -> str:
        return prefix + ("R" if s < 0 else "L")


def build_head(h: HeadShape, teeth: bool = True) -> Anatomy:
    """Primitives (in painting order) and exact landmarks for one head shape."""
    k = _Head(h, teeth)
    _anchors(k)
    _orbit_frames(k)
    _cranium_shapes(k)
    _soft_tissue(k)
    _skull_and_brain(k)
    _sella(k)
    _foramen_magnum(k)
    _temporal_bones(k)
    _midface(k)
    _mandible(k)
    _teeth(k)
    _spine_and_hyoid(k)
    _meatus(k)
    names = load_definition(LANDMARK_SET).names
    missing = [n for n in names if n not in k.lm]
    if missing:  # pragma: no cover - construction error
        raise RuntimeError(f"landmarks not built: {missing}")
    return Anatomy(k.P.parts, {n: k.lm[n] for n in names}, k.carriers, k.crowns, k.extent, k.key)


def _anchors(k: _Head) -> None:
    """Midline landmarks S, N, Ba, ANS, PNS, Me and per-side Po, Or, Co from the shape parameters."""
    h = k.h
    th = math.radians(h.sn_fh_deg)
    k.S = _p(0, h.sella_y, h.sella_z)
    k.N = k.S + h.sn * _p(0, -math.cos(th), math.sin(th))
    phi = th - math.radians(h.n_s_ba_deg)
    k.Ba = k.S + h.s_ba * _p(0, -math.cos(phi), math.sin(phi))
    k.ANS = k.N + _p(0, -h.ans_fwd, -h.ufh)
    pt = math.radians(h.palate_tilt_deg)
    k.d_pal = _p(0, math.cos(pt), -math.sin(pt))  # ANS -> PNS
    k.PNS = k.ANS + h.palate * k.d_pal
    k.Me = _p(h.chin_dev, k.N[1] + h.chin_back, k.N[2] - h.ufh - h.lfh)
    k.sides = {}
    for s in (-1, 1):
        sd = h.side(s)
        po_half = h.po_width / 2 + sd.po_lat
        Po = _p(s * po_half, 0.0, sd.po_z)
        Or = _p(s * (h.orbit_x + sd.or_lat), k.N[1] + h.or_back, sd.or_z)
        Co = Po + _p(-s * (h.co_med + sd.co_lat), -h.co_ant + sd.co_y, -h.co_down)
        k.sides[s] = dict(po_half=po_half, Po=Po, Or=Or, Co=Co)


def _orbit_frames(k: _Head) -> None:
    """Orbital rim rings (orbitale = lowest point) and the orbit cavity frames."""
    g = k.g
    k.a_o, k.b_o, k.r_or = 21.0 * g, 16.8 * g, 2.6 * g
    psi, tau = math.radians(22), math.radians(12)
    k.orbit = {}
    for s in (-1, 1):
        Or = k.sides[s]["Or"]
        u = _u(_p(s * math.cos(psi), math.sin(psi), 0))
        w0 = _p(u[1], -u[0], 0)
        if w0[1] > 0:
            w0 = -w0  # anterior
        v = math.cos(tau) * EZ + math.sin(tau) * w0
        n_h = -w0  # horizontal, posterior
        Oc = Or + k.r_or * EZ + k.b_o * v  # so that the lowest ring vertex minus r_or is Or
        ring = [Oc + k.a_o * math.cos(t) * u + k.b_o * math.sin(t) * v for t in np.radians(-90 + np.arange(24) * 15.0)]
        cav_c = Oc + 8 * g * n_h - 2.5 * g * EZ
        semi_v = k.b_o - 0.3 * g
        cavity = Ovoid(cav_c, _p(k.a_o - 1.2 * g, semi_v, 10 * g), _p(k.a_o - 1.2 * g, semi_v, 32 * g),
                       axes=np.stack([u, EZ, n_h]))
        k.orbit[s] = dict(u=u, v=v, n=n_h, Oc=Oc, ring=ring, cav_c=cav_c, axes=np.stack([u, EZ, n_h]), cavity=cavity)
        k.lm[k.side_name("Or", s)] = Or
    k.cavity_top = max(k.orbit[s]["cav_c"][2] + k.b_o - 0.3 * g for s in (-1, 1))
    k.key["orbit_centre"] = (k.orbit[1]["Oc"] + k.orbit[-1]["Oc"]) / 2


def _cranium_shapes(k: _Head) -> None:
    """Vault ovoids (cranium + occipital bulge) and the cranial floor height field."""
    h, g, N = k.h, k.g, k.N
    k.zc = N[2] + 15 * g
    k.front_y = N[1] + 3 * g
    k.ay = (h.skull_length - 6 * g) / 2
    k.yc = k.front_y + k.ay
    k.ax = h.skull_width / 2
    k.az_up = h.vertex_height - k.zc
    k.az_dn = 65 * g
    k.vault_out = Ovoid((0, k.yc, k.zc), (k.ax, k.ay, k.az_dn), (k.ax, k.ay, k.az_up))
    k.occ_c = _p(0, k.yc + 0.33 * k.ay, k.Ba[2] + 24 * g)
    k.occ_neg, k.occ_pos = _p(50 * g, 0.5 * k.ay, 34 * g), _p(50 * g, 0.62 * k.ay, 30 * g)
    k.occ_out = Ovoid(k.occ_c, k.occ_neg, k.occ_pos)
    z_mid = max(k.sides[s]["Po"][2] for s in (-1, 1)) + 7.5 * g  # squama ends above the meatus
    k.floor_kw = dict(z_ant=k.cavity_top + 3.0 * g, z_mid=z_mid, z_mid_centre=h.sella_z + 3 * g, z_post=-60 * g,
                      y_ridge=h.sella_y - 14 * g, k_ridge=0.15, y_petrous=h.sella_y + 12 * g, k_petrous=0.5, w=3.0)
    k.key["vertex"] = _p(0, k.yc, h.vertex_height + 6 * g)
    k.key["back"] = _p(0, k.yc + k.ay + 7 * g, k.zc)


def _vault(k: _Head, shrink: float) -> Union:
    return Union(Ovoid((0, k.yc, k.zc), (k.ax - shrink, k.ay - shrink, k.az_dn - shrink),
                       (k.ax - shrink, k.ay - shrink, k.az_up - shrink)),
                 Ovoid(k.occ_c, k.occ_neg - shrink, k.occ_pos - shrink))


def _soft_tissue(k: _Head) -> None:
    """Skin envelope (scalp, face, neck, lips, chin, nose, ears), fat layer, muscles."""
    h, g, P, N, ANS, Me, Ba = k.h, k.g, k.P, k.N, k.ANS, k.Me, k.Ba
    face_c = _p(0, N[1] + 47 * g, (N[2] + 22 * g + Me[2] - 9 * g) / 2)
    face_semi = _p(h.zy_width / 2 + 9 * g, 56 * g, (N[2] + 22 * g - Me[2] + 9 * g) / 2)
    ax, ay, az_dn, az_up, yc, zc = k.ax, k.ay, k.az_dn, k.az_up, k.yc, k.zc
    envelope = [
        Ovoid((0, yc, zc), (ax + 6 * g, ay + 7 * g, az_dn + 6 * g), (ax + 6 * g, ay + 7 * g, az_up + 6 * g)),
        Ovoid(k.occ_c, k.occ_neg + 9 * g, k.occ_pos + 9 * g),
        Ovoid(face_c, face_semi, face_semi * _p(1, 1.15, 1)),
        Ovoid(_p(0, Ba[1] + 18 * g, Me[2] - 60 * g), _p(60 * g, 62 * g, 150 * g)),  # neck
        Ovoid(ANS + _p(0, 3 * g, -17 * g), _p(27 * g, 15 * g, 21 * g)),  # lips
        Ovoid(Me + _p(0, -1 * g, 12 * g), _p(21 * g, 13.5 * g, 20 * g)),  # chin
        RoundCone(N + _p(0, -3 * g, -9 * g), ANS + _p(0, -21 * g, 11 * g), 5.5 * g, 8 * g),  # nose
        Ovoid(ANS + _p(0, -12 * g, 7 * g), _p(17 * g, 10 * g, 8 * g)),  # alae
    ]
    k.extent = (np.min([e.lo for e in envelope], axis=0), np.max([e.hi for e in envelope], axis=0))
    for s in (-1, 1):
        Po = k.sides[s]["Po"]
        envelope.append(Capsule(Po + _p(s * 2 * g, 0, 0), Po + _p(s * 12 * g, 4 * g, 5 * g), 8 * g))  # concha
        envelope.append(Ovoid(Po + _p(s * 15 * g, 6 * g, 8 * g), _p(3.5 * g, 15 * g, 27 * g),
                              axes=rotation((0, 0, 1), s * 12.0)))  # pinna
    for i, e in enumerate(envelope):
        P.add(f"skin[{i}]", e, 40, "soft")
    for i, e in enumerate(envelope[2:6]):
        P.add(f"subcutaneous fat[{i}]", Offset(e, -2.0 * g), -95, "fat")
    for i, e in enumerate(envelope[2:4]):
        P.add(f"deep soft tissue[{i}]", Offset(e, -7.0 * g), 45, "soft")
    for s in (-1, 1):  # masseter and temporalis
        Co = k.sides[s]["Co"]
        P.add("masseter", Ovoid(Co + _p(s * 4 * g, -8 * g, -32 * g), _p(9 * g, 14 * g, 24 * g)), 50, "soft")
        region = Box(_p(s * (ax + 5 * g), (N[1] + 20 * g + yc + 10 * g) / 2, (zc + 20 * g) / 2),
                     _p(30 * g, (yc - N[1] - 10 * g) / 2, (zc + 30 * g) / 2))
        P.add("temporalis", Intersect(Offset(k.vault_out, 5 * g), region), 50, "soft")
    k.key["chin_skin"] = Me - _p(0, 0, 9 * g)
    k.key["nose_tip"] = ANS + _p(0, -29 * g, 11 * g)
    k.key["head_centre"] = _p(0, (ANS[1] - 29 * g + yc + ay + 7 * g) / 2, 10 * g)


def _skull_and_brain(k: _Head) -> None:
    """Vault shell (outer table, diploe, inner table) on the cranial floor, brain, ventricles."""
    g, P, N, S, fkw = k.g, k.P, k.N, k.S, k.floor_kw
    t_v, t_base, table = k.h.vault_thickness, 3.5 * g, 1.8 * g
    brain = Intersect(_vault(k, t_v), Floor(**fkw))
    P.add("skull", Intersect(Union(k.vault_out, k.occ_out), Floor(**fkw, drop=t_base)), k.cort, "skull")
    P.add("frontal bone", Intersect(k.vault_out, Box((0, k.front_y + 14 * g - 40, N[2] - 4 * g + 40), (70, 40, 40))),
          k.cort, "skull")
    P.add("diploe", Intersect(_vault(k, table), Floor(**fkw, drop=t_base - table)), k.canc * 1.5, "skull")
    P.add("inner table", Intersect(_vault(k, t_v - table), Floor(**fkw, drop=table)), k.cort, "skull")
    P.add("brain", brain, 34, "brain")
    P.add("white matter", Intersect(_vault(k, t_v + 16 * g), Floor(**fkw, drop=-14 * g)), 27, "brain")
    for s in (-1, 1):
        P.add("lateral ventricle", Ovoid(_p(s * 7 * g, k.yc - 4 * g, k.zc + 12 * g), _p(5 * g, 27 * g, 8 * g),
                                         axes=rotation((0, 0, 1), -s * 6.0)), 6, "csf")
    P.add("third ventricle", Box(_p(0, S[1] + 18 * g, S[2] + 18 * g), _p(1.5 * g, 10 * g, 7 * g), rounding=1.2 * g),
          6, "csf")
    P.add("falx", Intersect(Box(_p(0, k.yc, k.zc + 30 * g), _p(0.8 * g, k.ay, k.az_up)), brain), 55, "brain")


def _sella(k: _Head) -> None:
    """Sphenoid body with its sinus, the sella fossa (S = centroid of its midsagittal section)."""
    g, P, S, cort = k.g, k.P, k.S, k.cort
    R_s = 5.4 * g
    c_off = 0.35 * R_s
    C_f = S - _p(0, 0, segment_centroid_offset(R_s, c_off))
    z_p = C_f[2] + c_off  # plane of the tuberculum / dorsum
    k.C_f, k.R_s, k.z_p = C_f, R_s, z_p
    sph_body = Box(_p(0, S[1] - 4 * g, z_p - 1 * g - 11 * g), _p(13 * g, 14 * g, 11 * g), rounding=4 * g)
    P.bone("sphenoid body", [sph_body], cort, k.canc * 1.3, "sphenoid", shell=1.5 * g)
    P.add("sphenoid sinus", Ovoid(_p(0, S[1] - 13 * g, z_p - 13 * g), _p(10 * g, 9 * g, 7 * g)), -1000, "airway")
    fossa = Sphere(C_f, R_s)
    P.add("sella fossa", fossa, 45, "pituitary")
    k.carriers["S"] = fossa
    k.lm["S"] = S
    P.add("dorsum sellae", Box(_p(0, C_f[1] + R_s + 2.0 * g, z_p - 3.25 * g), _p(6 * g, 1.6 * g, 5.75 * g),
                               rounding=1.2 * g), cort, "sphenoid")
    P.add("tuberculum sellae", Capsule(_p(-6 * g, C_f[1] - R_s - 2.2 * g, z_p - 0.5 * g),
                                       _p(6 * g, C_f[1] - R_s - 2.2 * g, z_p - 0.5 * g), 2 * g), cort, "sphenoid")
    for s in (-1, 1):
        P.add("anterior clinoid", Capsule(_p(s * 7.5 * g, C_f[1] - R_s - 4 * g, z_p + 0.5 * g),
                                          _p(s * 8 * g, C_f[1] - 1 * g, z_p + 1.5 * g), 1.6 * g), cort, "sphenoid")
    k.key["C_f"] = C_f
    k.key["sella_plane"] = _p(0, C_f[1], z_p)


def _foramen_magnum(k: _Head) -> None:
    """Foramen magnum (hole + rim polygon with a straight anterior side: Ba at its inner edge),
    clivus and occipital condyles."""
    g, P, Ba, cort = k.g, k.P, k.Ba, k.cort
    beta = math.radians(k.h.fm_tilt_deg)
    u_fm = _p(0, math.cos(beta), math.sin(beta))
    n_fm = _p(0, -math.sin(beta), math.cos(beta))
    r_fm, a_in, b_in, w_f = 3.0 * g, 17.5 * g, 14.5 * g, 6.5 * g
    a_c, b_c = a_in + r_fm, b_in + r_fm
    ring_ant = Ba - r_fm * u_fm
    Fc = ring_ant + a_c * u_fm
    k.Fc, k.a_c = Fc, a_c
    loop = [ring_ant - w_f * EX, ring_ant + w_f * EX]
    for t in np.radians(np.linspace(40, 320, 15)):
        loop.append(ring_ant + a_c * (1 - math.cos(t)) * u_fm + b_c * math.sin(t) * EX)
    fm_axes = np.stack([u_fm, EX, n_fm])
    P.add("foramen magnum", Ovoid(Fc, _p(a_c, b_c, 14 * g), axes=fm_axes), 30, "csf")
    clivus_top = _p(0, k.C_f[1] + k.R_s + 4.5 * g, k.z_p - 8 * g)
    clivus_end = ring_ant - 2.5 * g * u_fm  # its end sphere stays 1 mm short of basion
    P.add("clivus", RoundCone(clivus_top, clivus_end, 6 * g, r_fm + 1.5 * g), cort, "skull_base")
    for s in (-1, 1):
        P.add("clivus", RoundCone(clivus_top + s * 5.5 * g * EX, clivus_end + s * 6 * g * EX - 2 * g * u_fm,
                                  5 * g, 3.5 * g), cort, "skull_base")
    fm_ring = _capsule_loop(loop, r_fm)
    for i, c in enumerate(fm_ring):
        P.add(f"foramen magnum rim[{i}]", c, cort, "skull_base")
    k.carriers["Ba"] = Union(*fm_ring)
    k.lm["Ba"] = Ba
    for s in (-1, 1):
        P.add("occipital condyle", Ovoid(Fc + s * (b_c - 1 * g) * EX - 0.35 * a_c * u_fm - 4 * g * n_fm,
                                         _p(11 * g, 5 * g, 5 * g), axes=fm_axes), cort, "skull_base")
    k.key["foramen_centre"] = Fc


def _temporal_bones(k: _Head) -> None:
    """Temporal block, mastoid with air cells, petrous ridge, glenoid fossa, articular eminence and
    the tympanic bone whose flat lateral end carries porion (the canal is carved last)."""
    g, P, S, cort = k.g, k.P, k.S, k.cort
    k.r_eam = 3.8 * g
    k.eam = {}
    for s in (-1, 1):
        sp = k.sides[s]
        po_half, Po, Co = sp["po_half"], sp["Po"], sp["Co"]
        axis_pt = Po - k.r_eam * EZ  # canal axis at the lateral opening
        P.add("temporal block", Ovoid(_p(s * (po_half - 13 * g), 4 * g, Po[2] - 3 * g), _p(12 * g, 8 * g, 10 * g),
                                      _p(12 * g, 14 * g, 11 * g)), cort * 0.9, "temporal")
        mastoid = Ovoid(_p(s * (po_half - 9 * g), 13 * g, Po[2] - 15 * g), _p(8.5 * g, 11 * g, 14 * g))
        P.bone("mastoid", [mastoid], cort, k.canc, "temporal", shell=1.5 * g)
        for off, rad in k.cell_offsets:  # mirrored between the sides
            cell = Sphere(mastoid.frame.origin + off * _p(4.5 * s, 6.5, 9) * g, rad * g)
            P.add("mastoid air cell", cell, -850, "airway")
        petrous = RoundCone(_p(s * (po_half - 14 * g), 8 * g, Po[2] + 2 * g),
                            _p(s * 12 * g, S[1] + 12 * g, S[2] - 14 * g), 8 * g, 4 * g)
        P.add("petrous ridge", petrous, k.dense, "temporal")
        P.add("glenoid fossa roof", Ovoid(Co + _p(0, 0, 7 * g), _p(11 * g, 8 * g, 3.5 * g)), cort, "temporal")
        P.add("articular eminence", Capsule(Co + _p(-s * 9 * g, -11 * g, -1 * g), Co + _p(s * 4 * g, -11 * g, -1 * g),
                                            4.5 * g), cort, "temporal")
        tympanic = Cylinder(axis_pt - s * 15 * g * EX, s * EX, 15 * g, k.r_eam + 4 * g)
        P.add("tympanic bone", tympanic, cort, "temporal")
        k.eam[s] = axis_pt
        k.carriers[k.side_name("Po", s)] = tympanic
        k.lm[k.side_name("Po", s)] = Po


def _midface(k: _Head) -> None:
    """Maxilla, zygomatic bones and arches, sinuses, nasal cavity, orbits, rims, nasion, spines,
    palate."""
    h, g, P, cort, canc = k.h, k.g, k.P, k.cort, k.canc
    N, ANS, PNS, Me = k.N, k.ANS, k.PNS, k.Me
    maxilla = Ovoid(ANS + _p(0, 26 * g, 12 * g), _p(44 * g, 17 * g, 16 * g), _p(44 * g, 22 * g, 30 * g))
    P.bone("maxilla", [maxilla], cort, canc, "maxilla", shell=2 * g)
    zyg_body = {}
    for s in (-1, 1):
        zy_half = h.zy_width / 2 + h.side(s).zy_lat
        zyg_body[s] = _p(s * (zy_half - 11 * g), k.sides[s]["Or"][1] + 9 * g, -8 * g)
    # zygomatic arches (before the zygomatic bodies, which then cover their anterior ends)
    r_z, h_z = 2.4 * g, 2.6 * g
    for s in (-1, 1):
        zy_half = h.zy_width / 2 + h.side(s).zy_lat
        Zm = _p(s * (zy_half - r_z), h.zy_y, h.zy_z)  # the most lateral vertex of the chain
        Za = zyg_body[s]
        Zp = _p(s * (k.sides[s]["po_half"] - 4 * g), -9 * g, k.sides[s]["Po"][2] + 3 * g)
        c1 = _p(Zm[0], Zm[1] - 0.45 * (Zm[1] - Za[1]), (Za[2] + Zm[2]) / 2)
        c2 = _p(Zm[0], Zm[1] + 0.45 * (Zp[1] - Zm[1]), (Zm[2] + Zp[2]) / 2)
        pts = _bezier(Za, c1, Zm, [0, 0.25, 0.5, 0.75, 1.0]) + _bezier(Zm, c2, Zp, [0.25, 0.5, 0.75, 1.0])
        arch = _chain(pts, h_z, r_z)
        for i, r in enumerate(arch):
            P.add(f"zygomatic arch[{i}]", r, cort, "zygomatic_arch")
        k.carriers[k.side_name("Zy", s)] = Union(*arch)
        k.lm[k.side_name("Zy", s)] = Zm + s * r_z * EX
    for s in (-1, 1):
        P.bone("zygomatic bone", [Ovoid(zyg_body[s], _p(9 * g, 13 * g, 12 * g))], cort, canc, "face", shell=2 * g)
    P.add("interorbital bone", Box(_p(0, N[1] + 24 * g, N[2] - 12 * g), _p(12 * g, 20 * g, 16 * g), rounding=4 * g),
          canc * 1.3, "face")
    P.add("brow ridge core", Ovoid(_p(0, N[1] + 10 * g, N[2] + 9 * g), _p(30 * g, 9 * g, 9 * g)), cort, "skull")

    # cavities
    for s in (-1, 1):
        Or = k.sides[s]["Or"]
        P.add("orbit", k.orbit[s]["cavity"], -90, "fat")
        P.add("maxillary sinus", Ovoid(_p(s * (h.orbit_x - 3 * g), Or[1] + 9 * g, Or[2] - 15 * g),
                                       _p(12.5 * g, 15 * g, 12.5 * g)), -1000, "airway")
    for s in (-1, 1):  # bony walls of the orbital cone (behind the rim)
        o = k.orbit[s]
        behind = Box(o["cav_c"] + 26 * g * o["n"], _p(40 * g, 40 * g, 31 * g), axes=o["axes"])
        wall = Intersect(Subtract(Offset(o["cavity"], 1.8 * g), o["cavity"]), behind)
        P.add("orbital wall", wall, cort * 0.85, "face")
    nas_y0, nas_y1 = ANS[1] + 8 * g, PNS[1] + 1 * g
    nas_z0, nas_z1 = ANS[2] + 2.5 * g, ANS[2] + 44 * g
    nas_mid = nas_z0 + 24 * g
    P.add("nasal cavity", Box(_p(0, (nas_y0 + nas_y1) / 2, (nas_z0 + nas_mid) / 2),
                              _p(12.5 * g, (nas_y1 - nas_y0) / 2, (nas_mid - nas_z0) / 2), rounding=5 * g),
          -1000, "airway")
    P.add("nasal cavity", Box(_p(0, (nas_y0 + nas_y1) / 2 + 3 * g, (nas_mid - 6 * g + nas_z1) / 2),
                              _p(7 * g, (nas_y1 - nas_y0) / 2 - 3 * g, (nas_z1 - nas_mid + 6 * g) / 2), rounding=3 * g),
          -1000, "airway")
    P.add("piriform aperture", Ovoid(ANS + _p(0, 8 * g, 17 * g), _p(10.5 * g, 7 * g, 17 * g)), -1000, "airway")
    for ix in (-1, 1):  # ethmoid air cells
        for iy in range(3):
            for iz in range(2):
                c = _p(ix * 5 * g, N[1] + (20 + 9 * iy) * g, N[2] - (4 + 8 * iz) * g)
                P.add("ethmoid cell", Ellipsoid(c, _p(3.6 * g, 3.8 * g, 3.3 * g)), -900, "airway")
    P.add("frontal sinus", Ovoid(_p(0, N[1] + 9.5 * g, N[2] + 10 * g), _p(12 * g, 4.5 * g, 6 * g)), -1000, "airway")
    pharynx = [PNS + _p(0, 5 * g, 7 * g), PNS + _p(0, 12 * g, -8 * g), _p(0, PNS[1] + 14 * g, Me[2] + 12 * g),
               _p(0, PNS[1] + 16 * g, Me[2] - 40 * g), _p(0, PNS[1] + 17 * g, Me[2] - 140 * g)]
    for a, b in zip(pharynx[:-1], pharynx[1:]):
        P.add("pharynx", Capsule(a, b, 6.5 * g), -1000, "airway")
    P.add("tongue", Ovoid(ANS + _p(0, 34 * g, -27 * g), _p(21 * g, 28 * g, 13 * g)), 60, "soft")
    P.add("soft palate", Capsule(PNS + _p(0, 3 * g, -1 * g), PNS + _p(0, 22 * g, -13 * g), 4.5 * g), 45, "soft")
    for s in (-1, 1):
        for nm, z0, x0, r in (("inferior turbinate", 9, 9.5, 4.2), ("middle turbinate", 22, 7.5, 3.4)):
            a = _p(s * x0 * g, nas_y0 + 7 * g, ANS[2] + z0 * g)
            b = _p(s * (x0 + 0.5) * g, nas_y1 - 6 * g, ANS[2] + (z0 - 1) * g)
            P.add(nm, Capsule(a, b, r * g), 35, "soft")
            P.add(nm + " bone", Capsule(a, b, 1.1 * g), canc * 1.2, "nasal")
    P.add("nasal septum", Box(_p(0, (nas_y0 + nas_y1) / 2 - 2 * g, ANS[2] + 22 * g),
                              _p(1.0 * g, (nas_y1 - nas_y0) / 2 - 3 * g, 19 * g), rounding=0.8 * g), 230, "cartilage")
    for s in (-1, 1):
        P.add("nostril", Capsule(ANS + _p(s * 6 * g, -19 * g, 4 * g), ANS + _p(s * 7 * g, -4 * g, 8 * g), 3.4 * g),
              -1000, "airway")

    # orbit contents
    for s in (-1, 1):
        o = k.orbit[s]
        globe_c = o["Oc"] + 3 * g * o["n"] - 1 * g * EZ
        P.add("globe", Sphere(globe_c, 11.5 * g), 12, "eye")
        P.add("lens", Ellipsoid(globe_c - 8.6 * g * o["n"], _p(4.2 * g, 4.2 * g, 1.9 * g), axes=o["axes"]), 90, "eye")
        apex = o["Oc"] + 40 * g * o["n"] - s * 12 * g * EX
        P.add("optic nerve", Capsule(globe_c + 9 * g * o["n"], apex, 2.2 * g), 35, "soft")
        for j in (-1, 1):
            P.add("rectus muscle", Capsule(globe_c + j * 10.5 * g * o["u"] + 3 * g * o["n"], apex + j * 2 * g * o["u"],
                                           2.0 * g), 50, "soft")

    # rims, brow, nasion, nasal bones, spines, palate
    for s in (-1, 1):
        rim = _capsule_loop(k.orbit[s]["ring"], k.r_or)
        for i, c in enumerate(rim):
            P.add(f"orbital rim[{i}]", c, cort, "orbital_rim")
        k.carriers[k.side_name("Or", s)] = Union(*rim)
    brow = [_p(x, N[1] + 0.5 * g + 0.011 * x * x / g, N[2] + 11 * g + 0.002 * x * x / g)
            for x in np.linspace(-38, 38, 9) * g]
    for a, b in zip(brow[:-1], brow[1:]):
        P.add("brow ridge", Capsule(a, b, 5.5 * g), cort, "skull")
    r_n = 4.5 * g
    root = Capsule(_p(-6 * g, N[1] + r_n, N[2]), _p(6 * g, N[1] + r_n, N[2]), r_n)  # front at N
    P.add("nasal root", root, cort, "nasal")
    k.carriers["N"] = root
    k.lm["N"] = N
    for s in (-1, 0, 1):
        P.add("nasal bone", RoundCone(_p(s * 3 * g, N[1] + 4.5 * g, N[2] - 3 * g),
                                      _p(s * 5 * g, N[1] - 6 * g, N[2] - 22 * g), 3 * g, 1.8 * g), cort, "nasal")
    d_ans = _u(_p(0, -1, 0.08))
    ans_cone = RoundCone(ANS - 13 * g * d_ans, ANS - 1.2 * g * d_ans, 3.6 * g, 1.2 * g)  # tip at ANS
    P.add("anterior nasal spine", ans_cone, cort, "maxilla")
    k.carriers["ANS"] = ans_cone
    k.lm["ANS"] = ANS
    pal_c = (ANS + PNS) / 2 + _p(0, 2 * g, -1.5 * g)
    pal_axes = np.stack([EX, k.d_pal, np.cross(EX, k.d_pal)])
    palate = Ovoid(pal_c, _p(17 * g, h.palate / 2 - 6 * g, 3.5 * g), axes=pal_axes)
    P.bone("hard palate", [palate], cort, canc, "palate", shell=1.3 * g)
    pns_cone = RoundCone(PNS - 11 * g * k.d_pal, PNS - 2.0 * g * k.d_pal, 3.2 * g, 2.0 * g)  # tip at PNS
    P.add("posterior nasal spine", pns_cone, cort, "palate")
    k.carriers["PNS"] = pns_cone
    k.lm["PNS"] = PNS


def _mandible(k: _Head) -> None:
    """Mandibular arch (ribbon chain, menton = lowest point), per side an extruded outline of body,
    ramus and coronoid (gonion on the angle circle, on the tangents' bisector), condylar neck and
    head (condylion = top)."""
    h, g, Me = k.h, k.g, k.Me
    H_m, r_m = h.symphysis_height / 2, 5.5 * g  # symphysis half-height (ribbon h + r) and thickness radius
    r_a, r_neck = 11.0 * g, 5.5 * g  # angle and neck radii of the outline
    V = Me + _p(0, 0, H_m)
    w_b, d_b = h.arch_width, h.arch_depth  # arch half-width and depth at its ends (B)
    tmp = math.radians(h.mp_fh_deg)
    theta_max = math.radians(62)
    arch_pts, arch_h = [], []
    for t in np.linspace(-1, 1, 11):  # a U: x ~ sin, y ~ 1 - cos (ends run ~28 deg off sagittal)
        th = t * theta_max
        depth = d_b * (1 - math.cos(th)) / (1 - math.cos(theta_max))
        bottom = Me[2] + depth * math.tan(tmp)  # lower border on the mandibular plane
        top = Me[2] + 2 * H_m + depth * math.tan(0.45 * tmp)  # alveolar crest flatter (occlusal plane)
        arch_pts.append(_p(Me[0] + w_b * math.sin(th) / math.sin(theta_max), V[1] + depth, (top + bottom) / 2))
        arch_h.append((top - bottom) / 2 - r_m)
    mand_arch = [Ribbon(a, b, ha, r_m, hb)
                 for a, b, ha, hb in zip(arch_pts[:-1], arch_pts[1:], arch_h[:-1], arch_h[1:])]
    r_B = arch_h[-1] + r_m  # body half-height where the arch meets the body
    k.carriers["Me"] = Union(*mand_arch)
    k.lm["Me"] = Me
    parts: list[Primitive] = list(mand_arch)
    parts.append(Ovoid(Me + _p(0, -2.5 * g, 9.5 * g), _p(9 * g, 6 * g, 8.5 * g)))  # mental protuberance
    gam = math.radians(h.gonial_deg)
    k.lower_teeth_path = {}
    mid = len(arch_pts) // 2
    for s in (-1, 1):
        sd = h.side(s)
        B = arch_pts[-1] if s > 0 else arch_pts[0]
        C_c = k.sides[s]["Co"] - 5 * g * EZ  # condyle head centre
        C_end = C_c - 8 * g * EZ  # where the ramus outline ends (neck)
        # sagittal solve (a = -y, z): angle circle tangent to the lower border line through Me at the
        # mandibular-plane angle and to the posterior border line at the gonial angle
        n_mp = np.array([-math.sin(tmp), -math.cos(tmp)])
        alpha = gam - tmp
        n_r = np.array([-math.sin(alpha), math.cos(alpha)])
        A = np.stack([n_mp, n_r])
        rhs = np.array([n_mp @ np.array([-Me[1], Me[2]]) - r_a, n_r @ np.array([-C_end[1], C_end[2]]) + r_neck - r_a])
        go2 = np.linalg.solve(A, rhs)
        go_target_x = s * (h.go_width / 2 + sd.go_lat)
        Go_c = _p(go_target_x, -go2[0], go2[1] + sd.go_z)
        for _ in range(5):  # place the angle so that gonion (not the angle centre) has the target width
            u, b2, ce2, bis = _mandible_plane(Go_c, B, C_end, r_a, r_B, r_neck)
            Go_c[0] += go_target_x - (Go_c + r_a * (bis[0] * u + bis[1] * EZ))[0]
        u, b2, ce2, bis = _mandible_plane(Go_c, B, C_end, r_a, r_B, r_neck)
        axes = np.stack([u, EZ, np.cross(u, EZ)])
        cor0 = 0.42 * ce2 + np.array([7 * g, 0])
        cones = [((0, 0), tuple(b2), r_a, r_B), ((0, 0), tuple(ce2), r_a, r_neck),
                 (tuple(cor0), tuple(cor0 + np.array([13 * g, 23 * g])), 8.5 * g, 3.2 * g)]
        outline = Extruded2D(Go_c, axes, cones, r_m, 2.2 * g)
        neck = RoundCone(Go_c + ce2[0] * u + ce2[1] * EZ, C_c, r_neck, 4.6 * g)
        head = Ellipsoid(C_c, _p(9.5 * g, 4.5 * g, 5 * g), axes=rotation((0, 0, 1), -s * 15.0))  # top = C_c + 5g e_z
        parts += [outline, neck, head]
        k.lm[k.side_name("Go", s)] = Go_c + r_a * (bis[0] * u + bis[1] * EZ)
        k.lm[k.side_name("Co", s)] = C_c + 5 * g * EZ
        k.carriers[k.side_name("Go", s)], k.carriers[k.side_name("Co", s)] = outline, head
        # lower teeth path: along the arch ribbon top, then along the body top towards the ramus
        half_arch = arch_pts[mid:] if s > 0 else arch_pts[mid::-1]
        half_h = arch_h[mid:] if s > 0 else arch_h[mid::-1]
        path = [p + _p(0, 0, hh + r_m) for p, hh in zip(half_arch, half_h)]
        n_top = round_cone_normal(b2, np.zeros(2), r_B, r_a, np.array([0.0, 1.0]))
        t_b, t_g = b2 + r_B * n_top, r_a * n_top  # body top tangent from the arch end towards the angle
        path.append(path[-1] + 34 * g * _u((t_g[0] - t_b[0]) * u + (t_g[1] - t_b[1]) * EZ))
        k.lower_teeth_path[s] = path
    k.mandible_index = len(k.P.parts)
    k.P.bone("mandible", parts, k.cort * 1.05, k.canc, "mandible", shell=2.2 * g)


def _mandible_plane(Go_c, B, C_end, r_a, r_B, r_neck):
    """Vertical plane of one mandible half through the angle centre towards the arch end ``B``:
    horizontal unit axis ``u``, 2D points of B and the neck, and the outward bisector of the
    lower-border and posterior-border tangents at the angle."""
    u = B - Go_c
    u[2] = 0
    u = _u(u)
    b2 = np.array([(B - Go_c) @ u, B[2] - Go_c[2]])
    ce2 = np.array([(C_end - Go_c) @ u, C_end[2] - Go_c[2]])
    n1 = round_cone_normal(np.zeros(2), b2, r_a, r_B, np.array([0.0, -1.0]))
    n2 = round_cone_normal(np.zeros(2), ce2, r_a, r_neck, np.array([-1.0, 0.0]))
    return u, b2, ce2, _u(n1 + n2)


def _teeth(k: _Head) -> None:
    """Lower teeth along the mandibular crest, upper teeth in occlusion above them, and the upper
    alveolar process (painted before the mandible so that it never covers it)."""
    h, g, P = k.h, k.g, k.P
    widths = np.array([5.5, 6.0, 7.0, 7.0, 7.0, 10.5, 10.0]) * g
    uwidths = np.array([8.5, 6.5, 7.5, 7.0, 6.5, 10.0, 9.0]) * g
    upper_alv = {}
    for s in (-1, 1):
        path = np.array(k.lower_teeth_path[s])
        seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
        cum = np.concatenate([[0], np.cumsum(seg)])

        def at(dist):
            j = int(np.clip(np.searchsorted(cum, dist) - 1, 0, len(seg) - 1))
            f = (dist - cum[j]) / seg[j]
            return path[j] + f * (path[j + 1] - path[j]), _u(path[j + 1] - path[j])

        upper_alv[s] = []
        for i, (dist, wdt, uwd) in enumerate(zip(np.cumsum(widths) - widths / 2 + 0.3 * g, widths, uwidths)):
            p, tdir = at(dist)
            normal = -s * _u(np.cross(EZ, tdir))  # outward (buccal)
            crown_lo = p + _p(0, 0, 4.0 * g)
            crown_up = crown_lo + _p(0, 0, 9.2 * g) + 2.2 * g * _u(_p(normal[0], normal[1], 0))
            upper_alv[s].append(crown_up + _p(0, 0, 4.5 * g))
            if not k.teeth:
                continue
            tangent_axes = np.stack([_u(_p(tdir[0], tdir[1], 0)), _u(_p(normal[0], normal[1], 0)), EZ])
            bl = (3.4 if i < 2 else 4.2 if i < 5 else 5.2) * g
            if ("lower", s, i) not in h.missing_teeth:
                root = RoundCone(crown_lo, crown_lo - _p(0, 0, (15 if i != 2 else 17) * g), 2.5 * g, 1.1 * g)
                P.add("tooth root", root, 1750, "teeth")
                P.add("tooth crown", Ellipsoid(crown_lo, _p(wdt * 0.47, bl, 4.6 * g), axes=tangent_axes), 2700, "teeth")
                k.crowns.append(crown_lo)
            if ("upper", s, i) not in h.missing_teeth:
                root = RoundCone(crown_up, crown_up + _p(0, 0, (14 if i != 2 else 18) * g), 2.6 * g, 1.1 * g)
                P.add("tooth root", root, 1750, "teeth")
                crown = Ellipsoid(crown_up, _p(uwd * 0.47, bl + 0.4 * g, 4.8 * g), axes=tangent_axes)
                P.add("tooth crown", crown, 2700, "teeth")
                k.crowns.append(crown_up)
    # upper alveolar process: a ribbon through the upper teeth (right molar ... left molar), from the
    # cervical line up to the palate, at most 22 mm tall
    r_al = 5 * g
    pal_top = max(k.ANS[2], k.PNS[2]) + 2 * g
    alv_c, alv_h = [], []
    for p in upper_alv[-1][::-1] + upper_alv[1]:
        bottom = p[2]
        top = min(bottom + 22 * g, max(pal_top, bottom + 2 * r_al + 4 * g))
        alv_c.append(_p(p[0], p[1] + 1.5 * g, (top + bottom) / 2))
        alv_h.append((top - bottom) / 2 - r_al)
    alv = [Ribbon(a, b, ha, r_al, hb) for a, b, ha, hb in zip(alv_c[:-1], alv_c[1:], alv_h[:-1], alv_h[1:])]
    alv_parts = [Part(f"upper alveolus[{i}]", r, k.cort * 0.95, LABELS["maxilla"]) for i, r in enumerate(alv)]
    alv_parts += [Part(f"upper alveolus[{i}] core", Offset(r, -1.8 * g), k.canc, LABELS["maxilla"])
                  for i, r in enumerate(alv)]
    P.parts[k.mandible_index:k.mandible_index] = alv_parts


def _spine_and_hyoid(k: _Head) -> None:
    """Dens, atlas ring, vertebrae C2-C5 (bodies, laminae, spinous processes), spinal cord, hyoid."""
    g, P, Ba, Fc, a_c, Me, cort = k.g, k.P, k.Ba, k.Fc, k.a_c, k.Me, k.cort
    spine_y = Ba[1] + 9 * g
    P.add("dens", Capsule(_p(0, Ba[1] + 6.5 * g, Ba[2] - 12 * g), _p(0, Ba[1] + 7.5 * g, Ba[2] - 30 * g), 5 * g),
          cort, "spine")
    atlas = [Fc + _p(0, -a_c - 4 * g, -14 * g), Fc + _p(12 * g, -a_c + 2 * g, -15 * g),
             Fc + _p(16 * g, -2 * g, -16 * g), Fc + _p(12 * g, 14 * g, -14 * g), Fc + _p(0, 20 * g, -13 * g),
             Fc + _p(-12 * g, 14 * g, -14 * g), Fc + _p(-16 * g, -2 * g, -16 * g),
             Fc + _p(-12 * g, -a_c + 2 * g, -15 * g)]
    for i, c in enumerate(_capsule_loop(atlas, 3.5 * g)):
        P.add(f"atlas[{i}]", c, cort, "spine")
    for j in range(4):
        z_v = Ba[2] - (40 + 18 * j) * g
        y_v = spine_y + 3 * g * j
        P.bone("vertebra", [Box(_p(0, y_v, z_v), _p(9 * g, 8 * g, 6.5 * g), rounding=3 * g)], cort, k.canc, "spine",
               shell=1.5 * g)
        P.add("spinous process", Capsule(_p(0, y_v + 14 * g, z_v + 2 * g), _p(0, y_v + 34 * g, z_v - 6 * g), 3.2 * g),
              cort, "spine")
        for s in (-1, 1):
            P.add("lamina", Capsule(_p(s * 9 * g, y_v + 6 * g, z_v + 2 * g), _p(0, y_v + 16 * g, z_v + 1 * g), 2.6 * g),
                  cort, "spine")
    P.add("spinal cord", Capsule(Fc + _p(0, 0, -5 * g), _p(0, spine_y + 20 * g, Ba[2] - 120 * g), 5.5 * g), 30, "csf")
    # hyoid bone: a small U below and behind the chin (a bony distractor near menton)
    hy_c = _p(0, Me[1] + 38 * g, Me[2] - 14 * g)
    hyoid = [hy_c + _p(x, y, z) * g for x, y, z in [(-21, 26, 4), (-19, 16, 3), (-14, 6, 1.5), (-6, 0.5, 0), (0, 0, 0),
                                                     (6, 0.5, 0), (14, 6, 1.5), (19, 16, 3), (21, 26, 4)]]
    for a, b in zip(hyoid[:-1], hyoid[1:]):
        P.add("hyoid", Capsule(a, b, 2.6 * g), cort * 0.9, "spine")


def _meatus(k: _Head) -> None:
    """External acoustic meatus and middle ear, carved last (the canal's top edge at the lateral
    end of the tympanic bone is porion)."""
    g = k.g
    for s in (-1, 1):
        axis_pt = k.eam[s]
        k.P.add("middle ear", Sphere(axis_pt - s * 17 * g * EX, 3.2 * g), -1000, "airway")
        canal = Cylinder(axis_pt - s * 16 * g * EX, s * EX, 46 * g, k.r_eam)
        k.P.add("external acoustic meatus", canal, -1000, "airway")
