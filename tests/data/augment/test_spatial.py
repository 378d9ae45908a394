"""Augmentation: the image and the landmarks move by the same transform; flips swap L/R names;
the random draw (``draw_params``) is separate from the deterministic apply (``apply_params``)."""
from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

from data.augment.spatial import (AugmentOptions, IntensityParams, SpatialTransform, SplineField, apply_params,
                                  augment_case, augmented_dataset, draw_params, mirror_matrix, random_elastic,
                                  to_jsonable)
from data.landmark_io import read_landmarks
from data.landmarks import LandmarkSet
from data.manifest import read_manifest
from data.nifti import read_nifti
from data.volume import Volume, affine_from_geometry

SIGMA_MM = 2.0
# afids32 names: "1" AC (midline), "6"/"7" R/L superior LMS, "12"/"13" R/L mammillary bodies
NAMES = ["1", "6", "7", "12", "13"]


def oblique_affine() -> np.ndarray:
    """Non-identity orientation (rotated ~20 deg) and anisotropic voxels (2.0, 1.2, 1.5 mm)."""
    c, s = np.cos(np.radians(20)), np.sin(np.radians(20))
    return affine_from_geometry([-30.0, -40.0, 25.0], [0, s, -c], [1.0, 0, 0], [0, c, s], [2.0, 1.2, 1.5])


def lps_grid(vol: Volume) -> np.ndarray:
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in vol.shape], indexing="ij"), axis=-1)
    return vol.index_to_lps(idx)


@pytest.fixture(scope="module")
def blobs() -> tuple[Volume, LandmarkSet]:
    """Bright Gaussian blobs (sigma 2 mm) at five landmarks, well apart, on a dark background."""
    vol = Volume(np.zeros((36, 70, 56), np.float32), oblique_affine())
    center = vol.center_lps()
    offsets = np.array([[0, 0, 0], [-20, -12, 6], [18, -10, -8], [-14, 16, -4], [16, 14, 10]], float)
    coords = center + offsets
    grid = lps_grid(vol)
    arr = np.zeros(vol.shape)
    for p in coords:
        arr += 100.0 * np.exp(-np.sum((grid - p) ** 2, axis=-1) / (2 * SIGMA_MM ** 2))
    vol.array = arr.astype(np.float32)
    return vol, LandmarkSet(NAMES, coords)


def centroid_errors(vol: Volume, lm: LandmarkSet, radius_mm: float = 8.0) -> np.ndarray:
    """Distance (mm) from each landmark to the intensity-weighted centroid of the image around it."""
    grid = lps_grid(vol)
    out = []
    for p in lm.coords:
        near = np.linalg.norm(grid - p, axis=-1) < radius_mm
        w = np.clip(vol.array[near], 0, None)
        out.append(np.linalg.norm((w[:, None] * grid[near]).sum(0) / w.sum() - p))
    return np.array(out)


SPATIAL = {
    "affine": AugmentOptions.none(rotation_deg=15, scale=0.1, shear=0.05, translation_mm=5),
    "elastic": AugmentOptions.none(elastic_mm=3.0, elastic_spacing_mm=30),
    "combined": AugmentOptions.none(rotation_deg=15, scale=0.1, shear=0.05, translation_mm=5, elastic_mm=3.0,
                                    elastic_spacing_mm=30, p_flip=0.5),
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("mode", list(SPATIAL))
def test_blob_centroids_follow_the_landmarks(blobs, mode: str, seed: int) -> None:
    vol, lm = blobs
    out, moved = augment_case(vol, lm, np.random.default_rng(seed), SPATIAL[mode])
    assert out.shape == vol.shape and np.allclose(out.affine, vol.affine)
    assert moved.present.all()
    shift = np.linalg.norm(moved.coords - lm.coords, axis=1)
    assert shift.max() > 0.5  # the landmarks did move
    err = centroid_errors(out, moved)
    assert err.max() < 0.6, (mode, seed, err)  # voxels are 1.2-2 mm


def test_elastic_part_moves_landmarks_non_affinely(blobs) -> None:
    vol, lm = blobs
    out, moved = augment_case(vol, lm, np.random.default_rng(5), SPATIAL["elastic"], elastic_mm=4.0)
    shift = moved.coords - lm.coords
    assert np.linalg.norm(shift, axis=1).max() > 1.0
    assert np.ptp(shift, axis=0).max() > 0.5  # not a plain translation
    assert centroid_errors(out, moved).max() < 0.6


def test_other_output_grid(blobs) -> None:
    vol, lm = blobs
    grid = np.diag([1.0, 1.0, 1.0, 1.0])
    grid[:3, 3] = vol.center_lps() - 30
    out, moved = augment_case(vol, lm, np.random.default_rng(3), SPATIAL["combined"], out_shape=(61, 61, 61),
                              out_affine=grid)
    assert out.shape == (61, 61, 61) and np.allclose(out.affine, grid)
    assert moved.present.all()
    assert centroid_errors(out, moved).max() < 0.6


def test_flip_swaps_pairs_and_mirrors(blobs) -> None:
    vol, lm = blobs
    x0 = float(vol.center_lps()[0]) + 3.0
    out, moved = augment_case(vol, lm, np.random.default_rng(0), AugmentOptions.none(p_flip=1.0, flip_x_mm=x0))
    assert out.meta["augment"]["flip"] is True
    mirrored = lm.coords * [-1, 1, 1] + [2 * x0, 0, 0]
    swap = {"1": "1", "6": "7", "7": "6", "12": "13", "13": "12"}
    assert moved.names == lm.names
    for name in lm.names:
        np.testing.assert_allclose(moved[name], mirrored[lm.index(swap[name])], atol=1e-9)
    assert centroid_errors(out, moved).max() < 0.6


def test_flip_partner_missing_becomes_absent_and_unknown_set_needs_pairs(blobs) -> None:
    vol, lm = blobs
    opt = AugmentOptions.none(p_flip=1.0)
    sub = lm.subset(["1", "6", "12", "13"])  # "6" without its partner "7"
    _, moved = augment_case(vol, sub, np.random.default_rng(0), opt)
    assert moved.present.tolist() == [True, False, True, True]
    custom = LandmarkSet(["a", "b", "c", "d", "e"], lm.coords)
    with pytest.raises(ValueError, match="pairs"):
        augment_case(vol, custom, np.random.default_rng(0), opt)
    _, mirrored = augment_case(vol, custom, np.random.default_rng(0), opt, pairs={"a": "b", "b": "a"})
    np.testing.assert_allclose(mirrored["a"][1:], lm.coords[1, 1:], atol=1e-9)  # "a" took "b"'s place


def test_same_seed_same_output(blobs) -> None:
    vol, lm = blobs
    opt = AugmentOptions(p_bias=1, p_gamma=1, p_noise=1, p_blur=1)
    a, la = augment_case(vol, lm, np.random.default_rng(42), opt)
    b, lb = augment_case(vol, lm, np.random.default_rng(42), opt)
    c, lc = augment_case(vol, lm, np.random.default_rng(43), opt)
    assert np.array_equal(a.array, b.array) and np.array_equal(la.coords, lb.coords, equal_nan=True)
    assert la.names == lb.names and np.array_equal(la.present, lb.present)
    assert not np.array_equal(a.array, c.array)


def test_inverse_elastic_accuracy() -> None:
    """T(T^-1(p)) = p to well under 0.1 mm, for a strong field, inside and outside the grid."""
    affine = oblique_affine()
    shape = (30, 50, 40)
    rng = np.random.default_rng(7)
    opt = AugmentOptions.none(elastic_mm=6.0, elastic_spacing_mm=20)
    field = None
    while field is None:
        field, _ = random_elastic(rng, opt, shape, affine)
    t = SpatialTransform(np.eye(4), mirror_matrix(4.0), affine, field)
    pts = Volume(np.zeros(shape), affine).index_to_lps(rng.uniform(-10, np.array(shape) + 10, size=(500, 3)))
    q, residual = t.inverse(pts)
    assert residual < 1e-4
    assert np.linalg.norm(t.forward(q) - pts, axis=1).max() < 0.1
    assert np.abs(t.displacement(q)).max() > 2.0  # the field is not negligible
    # the dense field used for resampling is the same function as the point evaluation
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1).reshape(-1, 3)
    assert np.abs(field.dense().reshape(-1, 3) - field.at(idx)).max() < 1e-4


def test_spline_field_in_slabs_equals_whole() -> None:
    f = SplineField((20, 30, 25), (1.0, 2.0, 0.7), 15)
    f.coef = np.random.default_rng(0).standard_normal(f.coef_shape + (2,))
    whole = f.dense()
    assert whole.shape == (20, 30, 25, 2)
    assert np.allclose(np.concatenate([f.dense((0, 7)), f.dense((7, 20))]), whole)


def test_intensity_ops_keep_shape_and_landmarks(blobs) -> None:
    vol, lm = blobs
    opt = AugmentOptions.none(p_bias=1.0, p_gamma=1.0, p_noise=1.0, p_blur=1.0)
    out, moved = augment_case(vol, lm, np.random.default_rng(1), opt)
    assert out.shape == vol.shape and out.array.dtype == np.float32
    assert moved.equals(lm, atol=1e-9)
    assert not np.allclose(out.array, vol.array)
    assert {"bias", "gamma", "noise_std", "blur_mm"} <= set(out.meta["augment"])


def test_no_augmentation_is_identity(blobs) -> None:
    vol, lm = blobs
    out, moved = augment_case(vol, lm, np.random.default_rng(0), AugmentOptions.none())
    np.testing.assert_allclose(out.array, vol.array, atol=1e-4)
    assert moved.equals(lm, atol=1e-9)


def test_landmark_moved_out_of_the_grid_is_absent(blobs) -> None:
    vol, lm = blobs
    grid = vol.affine.copy()
    j = np.sort(vol.lps_to_index(lm.coords)[:, 2])
    grid[:3, 3] = vol.index_to_lps([0, 0, (j[1] + j[2]) / 2])  # output grid cuts off the first two along j
    _, moved = augment_case(vol, lm, np.random.default_rng(0), AugmentOptions.none(), out_affine=grid)
    inside = Volume(vol.array, grid).contains(lm.coords)
    assert moved.present.tolist() == inside.tolist() and inside.sum() == 3


def test_unknown_option_rejected(blobs) -> None:
    with pytest.raises(TypeError, match="rotation"):
        augment_case(*blobs, np.random.default_rng(0), rotaton_deg=3)


def test_augmented_dataset_files(blobs, tmp_path, capsys) -> None:
    vol, lm = blobs
    manifest = augmented_dataset(vol, lm, tmp_path / "aug", n_cases=2, seed=9, include_original=True,
                                 options=SPATIAL["combined"])
    df = read_manifest(manifest)
    assert df["case_id"].tolist() == ["case_original", "case_0000", "case_0001"]
    err = capsys.readouterr().err
    assert "[3/3] case_0001" in err
    for _, row in df.iterrows():
        img = read_nifti(row["image"])
        assert img.shape == vol.shape and np.allclose(img.affine, vol.affine, atol=1e-4)
        landmarks = read_landmarks(row["landmarks"])
        assert landmarks.names == lm.names
        assert centroid_errors(img, landmarks).max() < 0.6
    # case i is reproducible on its own
    again, lm1 = augment_case(vol, lm, np.random.default_rng([9, 1]), SPATIAL["combined"])
    np.testing.assert_allclose(read_landmarks(df["landmarks"].iloc[2]).coords, lm1.coords, atol=1e-9)
    assert not list((tmp_path / "aug").rglob("*.tmp*"))
    small = augmented_dataset(vol, lm, tmp_path / "int16", n_cases=1, seed=9, options=SPATIAL["affine"],
                              dtype=np.int16, progress=None)
    img = read_nifti(read_manifest(small)["image"].iloc[0])
    assert np.array_equal(img.array, np.rint(img.array)) and img.array.max() > 50


# --------------------------------------------------------------------------- draw vs apply
ALL_ON = AugmentOptions(p_flip=0.5, p_bias=1, p_gamma=1, p_noise=1, p_blur=1)


class NoValues:
    """Stands in for a Volume's array: has a shape, refuses to give its values."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def __getattr__(self, name):
        raise AssertionError(f"the draw read the voxel data ({name})")

    def __array__(self, *args, **kwargs):
        raise AssertionError("the draw read the voxel data")


def same_case(a, b) -> bool:
    (va, la), (vb, lb) = a, b
    untimed = [{k: v for k, v in v.meta["augment"].items() if not k.endswith("_s")} for v in (va, vb)]
    return (np.array_equal(va.array, vb.array) and np.array_equal(va.affine, vb.affine) and la.names == lb.names
            and np.array_equal(la.coords, lb.coords, equal_nan=True) and np.array_equal(la.present, lb.present)
            and untimed[0] == untimed[1] and va.meta["notes"] == vb.meta["notes"])


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("opt", [ALL_ON, SPATIAL["combined"]], ids=["all", "combined"])
def test_draw_then_apply_is_augment_case(blobs, opt, seed) -> None:
    vol, lm = blobs
    rng_a, rng_b = np.random.default_rng(seed), np.random.default_rng(seed)
    params = draw_params(rng_a, opt, None, None, vol)
    assert same_case(apply_params(vol, lm, params, opt), augment_case(vol, lm, rng_b, opt))
    assert rng_a.bit_generator.state == rng_b.bit_generator.state  # the draw consumed exactly what augment_case does


def test_draw_then_apply_on_another_grid(blobs) -> None:
    vol, lm = blobs
    grid = np.eye(4)
    grid[:3, 3] = vol.center_lps() - 30
    params = draw_params(np.random.default_rng(3), ALL_ON, (61, 61, 61), grid, vol)
    out = apply_params(vol, lm, params, ALL_ON)
    assert out[0].shape == (61, 61, 61)
    assert same_case(out, augment_case(vol, lm, np.random.default_rng(3), ALL_ON, out_shape=(61, 61, 61),
                                       out_affine=grid))


def test_apply_params_is_deterministic(blobs) -> None:
    vol, lm = blobs
    assert not any("rng" in name for name in inspect.signature(apply_params).parameters)
    params = draw_params(np.random.default_rng(8), ALL_ON, None, None, vol)
    before = json.dumps(to_jsonable(params))  # plain JSON, generator state included
    a, b = apply_params(vol, lm, params, ALL_ON), apply_params(vol, lm, params, ALL_ON)
    assert same_case(a, b)
    assert json.dumps(to_jsonable(params)) == before  # applying does not change the record
    assert {"bias", "gamma", "noise_std", "blur_mm"} <= set(a[0].meta["augment"])


def test_zero_ranges_draw_the_identity(blobs) -> None:
    vol, lm = blobs
    params = draw_params(np.random.default_rng(0), AugmentOptions.none(), None, None, vol)
    assert np.array_equal(params.matrix, np.eye(4)) and params.elastic_coef is None and not params.flip
    assert params.intensity == IntensityParams(bias_spacing_mm=params.intensity.bias_spacing_mm)  # no ops
    out, moved = apply_params(vol, lm, params)
    np.testing.assert_allclose(out.array, vol.array, atol=1e-4)  # unchanged up to resampling
    assert moved.equals(lm, atol=1e-9)


def test_draw_reads_geometry_not_voxel_values(blobs) -> None:
    vol, lm = blobs
    other = Volume(np.random.default_rng(1).uniform(-500, 900, vol.shape).astype(np.float32), vol.affine)
    blind = Volume(np.zeros(vol.shape, np.float32), vol.affine)
    blind.array = NoValues(vol.shape)
    drawn = [to_jsonable(draw_params(np.random.default_rng(4), ALL_ON, None, None, v)) for v in (vol, other, blind)]
    assert drawn[0] == drawn[1] == drawn[2]
