"""Atlas-registration baseline: Volume <-> SimpleITK geometry, and landmark transfer on a known warp."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from cascade.coarse.registration import (invert_points, register, register_landmarks, sitk_to_volume,
                                      transfer_landmarks, volume_to_sitk)
from data.landmarks import LandmarkSet
from data.volume import Volume, affine_from_geometry


def oriented_volume() -> Volume:
    rot = Rotation.from_euler("xyz", [20, -35, 50], degrees=True).as_matrix()
    affine = affine_from_geometry([12.5, -40.0, 73.0], rot[:, 0], rot[:, 1], rot[:, 2], [2.5, 0.8, 1.3])
    array = np.random.default_rng(0).normal(size=(5, 7, 6)).astype(np.float32)
    return Volume(array, affine)


def test_sitk_round_trip_oriented_affine() -> None:
    vol = oriented_volume()
    img = volume_to_sitk(vol)
    assert img.GetSize() == (6, 7, 5)  # ITK (x, y, z) = our (j, i, k)
    rng = np.random.default_rng(1)
    for kij in rng.uniform(-2, 8, size=(20, 3)):
        phys = img.TransformContinuousIndexToPhysicalPoint([float(kij[2]), float(kij[1]), float(kij[0])])
        np.testing.assert_allclose(phys, vol.index_to_lps(kij), atol=1e-9)
    k, i, j = 3, 5, 2
    assert img.GetPixel(j, i, k) == vol.array[k, i, j]
    back = sitk_to_volume(img)
    np.testing.assert_allclose(back.affine, vol.affine, atol=1e-12)
    assert np.array_equal(back.array, vol.array)


def phantom_value(lps: np.ndarray, centres: np.ndarray, sizes: np.ndarray, amps: np.ndarray) -> np.ndarray:
    """A smooth blobby 'head': Gaussian blobs inside a soft ellipsoid, evaluated at LPS points."""
    out = np.zeros(lps.shape[:-1])
    for c, s, a in zip(centres, sizes, amps):
        out += a * np.exp(-np.sum((lps - c) ** 2, axis=-1) / (2 * s ** 2))
    r = np.sqrt(np.sum((lps / [38.0, 44.0, 34.0]) ** 2, axis=-1))
    return (out + 40.0) / (1 + np.exp((r - 1) * 25))


def lps_grid(shape, affine) -> np.ndarray:
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    return idx @ affine[:3, :3].T + affine[:3, 3]


@pytest.fixture(scope="module")
def pair() -> tuple[Volume, Volume, LandmarkSet, np.ndarray]:
    """(fixed, moving, moving landmarks, true fixed landmarks): fixed(x) = moving(G(x)) exactly,
    G = rotation 5 deg + translation 4 mm (+1 mm, -2 mm) in LPS; 48^3 grids of 2 mm, differently oriented."""
    rng = np.random.default_rng(4)
    centres = rng.uniform(-28, 28, size=(40, 3)) * [1.0, 1.15, 0.9]
    sizes = rng.uniform(3, 8, size=40)
    amps = rng.uniform(-60, 120, size=40)
    shape = (48, 48, 48)
    a_moving = affine_from_geometry([-47.0, -47.0, -47.0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [2, 2, 2])
    rot = Rotation.from_euler("xyz", [3, -4, 8], degrees=True).as_matrix()
    a_fixed = affine_from_geometry([-44.0, -50.0, -45.0], rot[:, 2], rot[:, 1], rot[:, 0], [2.0, 2.0, 2.0])
    g = np.eye(4)
    axis = np.array([1.0, 2.0, 0.5]) / np.linalg.norm([1.0, 2.0, 0.5])
    g[:3, :3] = Rotation.from_rotvec(np.radians(5) * axis).as_matrix()
    g[:3, 3] = [4.0, 1.0, -2.0]
    moving = Volume(phantom_value(lps_grid(shape, a_moving), centres, sizes, amps).astype(np.float32), a_moving)
    fixed = Volume(phantom_value(lps_grid(shape, g @ a_fixed), centres, sizes, amps).astype(np.float32), a_fixed)
    points = centres[np.abs(amps) > 40][:8]
    landmarks = LandmarkSet([f"p{n}" for n in range(len(points))], points)
    g_inv = np.linalg.inv(g)
    truth = points @ g_inv[:3, :3].T + g_inv[:3, 3]
    return fixed, moving, landmarks, truth


def test_affine_registration_recovers_landmarks(pair) -> None:
    fixed, moving, landmarks, truth = pair
    before = np.linalg.norm(landmarks.coords - truth, axis=1).mean()
    found, info = register_landmarks(fixed, moving, landmarks, "affine", threads=1, seed=3)
    err = np.linalg.norm(found.coords - truth, axis=1)
    assert before > 4.0 and err.max() < 1.0, (before, err)
    assert found.names == landmarks.names and found.present.all()
    assert info["inverse_residual_mm"] < 1e-6
    assert {"init_s", "rigid_s", "affine_s", "total_s"} <= set(info)
    again, _ = register_landmarks(fixed, moving, landmarks, "affine", threads=1, seed=3)
    np.testing.assert_array_equal(again.coords, found.coords)  # seeded sampling: reproducible


def test_bspline_registration_no_worse(pair) -> None:
    fixed, moving, landmarks, truth = pair
    transform, info = register(fixed, moving, "bspline", threads=2, seed=0, bspline_iterations=30)
    assert info["bspline_mesh"] == [4, 4, 4]  # 96 mm field of view, one interval per ~22 mm
    found, residual = transfer_landmarks(transform, landmarks)
    err = np.linalg.norm(found.coords - truth, axis=1)
    assert err.mean() < 1.0 and err.max() < 1.5, err
    assert residual < 1e-3 and info["bspline_s"] > 0


def test_bspline_inverse_is_accurate() -> None:
    """The fixed-point inverse of affine + B-spline: T(T^-1(p)) = p for a strong random deformation."""
    img = volume_to_sitk(oriented_volume())
    bspline = sitk.BSplineTransformInitializer(img, [3, 3, 3], 3)
    rng = np.random.default_rng(2)
    bspline.SetParameters(rng.normal(0, 1.5, len(bspline.GetParameters())).tolist())
    affine = sitk.AffineTransform(3)
    affine.SetMatrix((Rotation.from_euler("z", 7, degrees=True).as_matrix() * 1.05).ravel().tolist())
    affine.SetTranslation([3.0, -2.0, 1.0])
    affine.SetCenter(oriented_volume().center_lps().tolist())
    composite = sitk.CompositeTransform([affine, bspline])
    x_true = oriented_volume().index_to_lps(rng.uniform(0, [4, 6, 5], size=(30, 3)))
    p = np.array([composite.TransformPoint(x.tolist()) for x in x_true])
    assert np.linalg.norm(p - x_true, axis=1).max() > 2.0
    x, residual = invert_points(composite, np.vstack([p, [np.nan] * 3]))
    assert residual < 1e-4
    np.testing.assert_allclose(x[:-1], x_true, atol=1e-3)
    assert np.isnan(x[-1]).all()


def test_bad_mode_rejected(pair) -> None:
    with pytest.raises(ValueError, match="mode"):
        register(pair[0], pair[1], "syn")
