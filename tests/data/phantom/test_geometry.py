"""Each phantom landmark is where its anatomical definition puts it on the *painted* anatomy.

A small label grid (0.2 mm) is rasterised around each landmark with the full painting order, and
the defining property is checked on it: menton is the lowest mandible voxel, condylion the highest,
orbitale the lowest point of the rim, zygion the most lateral point of the arch, and so on.
"""
import math

import numpy as np
import pytest

from data.phantom import LABELS, build_head, sample_shape
from data.phantom.anatomy import segment_centroid_offset
from data.phantom.raster import rasterize
from data.phantom.shape import HeadShape

STEP = 0.2
TOL = STEP + 0.05
BONE = [LABELS[k] for k in ("skull", "skull_base", "sphenoid", "temporal", "face", "orbital_rim", "nasal", "maxilla",
                            "palate", "zygomatic_arch", "mandible", "teeth", "spine")]


def heads():
    yield "mean", build_head(HeadShape())
    yield "seed5", build_head(sample_shape(np.random.default_rng(5)))
    yield "seed12", build_head(sample_shape(np.random.default_rng(12)))


@pytest.fixture(scope="module", params=["mean", "seed5", "seed12"])
def anatomy(request):
    return dict(heads())[request.param]


def extreme(sel, axis, sign):
    """The value of the extreme voxel coordinate and the mean position of the voxels at it."""
    v = sign * sel[:, axis]
    top = v.max()
    at = sel[v >= top - STEP / 2]
    return sign * top, at.mean(axis=0)


def local_labels(anatomy, centre, half=6.0):
    """Labels on a canonical grid of STEP mm around ``centre``; returns (labels, points)."""
    n = int(round(2 * half / STEP)) + 1
    m = np.eye(4)
    m[:3, :3] *= STEP
    m[:3, 3] = np.asarray(centre) - half
    _, lab = rasterize(anatomy.parts, (n, n, n), m, STEP, labels=True, block=(8, 8, 8))
    idx = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1)
    return lab, idx * STEP + m[:3, 3]


def label_at(anatomy, point):
    m = np.eye(4)
    m[:3, 3] = point
    _, lab = rasterize(anatomy.parts, (1, 1, 1), m, STEP, labels=True, block=(1, 1, 1))
    return int(lab[0, 0, 0])


def test_menton_is_lowest_mandible_point(anatomy):
    me = anatomy.landmarks["Me"]
    lab, pts = local_labels(anatomy, me + [0, 0, 4])
    z, where = extreme(pts[lab == LABELS["mandible"]], 2, -1)
    assert abs(z - me[2]) <= TOL
    assert np.linalg.norm(where[:2] - me[:2]) <= 1.0


def test_condylion_is_top_of_condyle(anatomy):
    for name in ("CoR", "CoL"):
        co = anatomy.landmarks[name]
        lab, pts = local_labels(anatomy, co - [0, 0, 4])
        z, where = extreme(pts[lab == LABELS["mandible"]], 2, 1)
        assert abs(z - co[2]) <= TOL, name
        assert np.linalg.norm(where[:2] - co[:2]) <= 1.0, name
        # the joint space: no bone for 1.5 mm above condylion
        assert label_at(anatomy, co + [0, 0, 1.5]) not in BONE, name


def test_orbitale_is_lowest_point_of_the_rim(anatomy):
    for name in ("OrR", "OrL"):
        o = anatomy.landmarks[name]
        lab, pts = local_labels(anatomy, o + [0, 0, 4])
        z, where = extreme(pts[lab == LABELS["orbital_rim"]], 2, -1)
        assert abs(z - o[2]) <= TOL, name
        assert np.linalg.norm(where[:2] - o[:2]) <= 1.0, name


def test_zygion_is_most_lateral_point_of_the_arch(anatomy):
    for name, s in (("ZyR", -1), ("ZyL", 1)):
        zy = anatomy.landmarks[name]
        lab, pts = local_labels(anatomy, zy - [s * 4, 0, 0])
        x, where = extreme(pts[lab == LABELS["zygomatic_arch"]], 0, s)
        assert abs(x - zy[0]) <= TOL, name
        assert abs(where[1] - zy[1]) <= 3.0 and abs(where[2] - zy[2]) <= 1.0, name  # the arch is flat along y


def test_nasal_spines_are_the_tips_of_the_palate(anatomy):
    ans, pns = anatomy.landmarks["ANS"], anatomy.landmarks["PNS"]
    lab, pts = local_labels(anatomy, ans + [0, 4, 0])
    y, where = extreme(pts[np.isin(lab, BONE) & (np.abs(pts[..., 0]) < 2)], 1, -1)
    assert abs(y - ans[1]) <= TOL and abs(where[2] - ans[2]) <= 1.0
    lab, pts = local_labels(anatomy, pns - [0, 4, 0])
    y, where = extreme(pts[(lab == LABELS["palate"]) & (np.abs(pts[..., 0]) < 2)], 1, 1)
    assert abs(y - pns[1]) <= TOL and abs(where[2] - pns[2]) <= 1.0


def test_porion_is_top_of_the_meatus_opening(anatomy):
    for name, s in (("PoR", -1), ("PoL", 1)):
        po = anatomy.landmarks[name]
        assert label_at(anatomy, po + [-s * 0.5, 0, 0.4]) == LABELS["temporal"], name  # bone roof of the canal
        assert label_at(anatomy, po + [-s * 0.5, 0, -0.6]) == LABELS["airway"], name  # the canal
        assert label_at(anatomy, po + [s * 0.8, 0, 0.4]) not in BONE, name  # outside the opening
        assert label_at(anatomy, po + [-s * 0.5, 0, -3.5]) == LABELS["airway"], name  # the canal is ~7 mm wide


def test_basion_is_anterior_margin_of_foramen_magnum(anatomy):
    ba, centre = anatomy.landmarks["Ba"], anatomy.key_points["foramen_centre"]
    u = (centre - ba) / np.linalg.norm(centre - ba)  # towards the foramen centre
    assert abs(u[0]) < 1e-9
    assert label_at(anatomy, ba - 0.4 * u) == LABELS["skull_base"]
    assert label_at(anatomy, ba + 0.6 * u) not in BONE
    assert label_at(anatomy, centre) not in BONE
    for off in (-4.0, 4.0):  # the margin continues to both sides
        assert label_at(anatomy, ba - 0.6 * u + [off, 0, 0]) == LABELS["skull_base"]


def test_nasion_is_frontonasal_junction(anatomy):
    n = anatomy.landmarks["N"]
    assert label_at(anatomy, n + [0, 0.4, 0]) == LABELS["nasal"]
    assert label_at(anatomy, n - [0, 0.6, 0]) not in BONE
    lab, pts = local_labels(anatomy, n + [0, 0, 10], half=8)
    bone = np.isin(lab, BONE) & (np.abs(pts[..., 0]) < 1)
    glabella = pts[bone & (pts[..., 2] > n[2] + 6)]
    assert glabella[:, 1].min() < n[1] - 1.0  # the brow lies in front above nasion (a concavity)


def test_gonion_on_the_angle_along_the_bisector(anatomy):
    for name, s in (("GoR", -1), ("GoL", 1)):
        go, prim = anatomy.landmarks[name], anatomy.carriers[name]
        eps = 1e-3
        grad = np.array([prim.at(go + eps * e) - prim.at(go - eps * e) for e in np.eye(3)]) / (2 * eps)
        n = grad / np.linalg.norm(grad)
        assert n[1] > 0.25 and n[2] < -0.25, f"{name}: normal {n} does not point back and down"
        assert label_at(anatomy, go - 0.4 * n) == LABELS["mandible"], name
        assert label_at(anatomy, go + 0.6 * n) != LABELS["mandible"], name


def test_sella_is_centroid_of_the_fossa_section(anatomy):
    s = anatomy.landmarks["S"]
    c = anatomy.key_points["C_f"]
    plane = anatomy.key_points["sella_plane"][2]
    r = np.linalg.norm(anatomy.carriers["S"].frame.origin - c) + anatomy.carriers["S"].pos[0]
    yy, zz = np.meshgrid(np.arange(-r, r, 0.02), np.arange(-r, r, 0.02))
    inside = (yy ** 2 + zz ** 2 <= r ** 2) & (zz + c[2] <= plane)
    assert abs(zz[inside].mean() + c[2] - s[2]) < 0.02
    assert abs(yy[inside].mean() + c[1] - s[1]) < 0.02
    assert label_at(anatomy, s) == LABELS["pituitary"]
    floor = c[2] - r
    assert 2.0 < s[2] - floor < 6.0  # bone of the fossa floor a few mm below


def test_segment_centroid_formula():
    # half disc: centroid 4r/(3 pi) below the centre
    assert math.isclose(segment_centroid_offset(3.0, 0.0), -4 * 3.0 / (3 * math.pi), rel_tol=1e-12)
    assert segment_centroid_offset(5.0, 4.99) > -0.01
