"""CT-realism augmentation of labelled real scans: landmarks follow the anatomy, FOV cuts, profiles;
the random draw (``draw_ct_params``) is separate from the deterministic apply (``apply_ct_params``)."""
import json

import numpy as np
import pytest

from data.augment.ct import CTOptions, apply_ct_params, augment_ct_case, draw_ct_params, slice_profile
from data.augment.spatial import AugmentOptions, make_options, to_jsonable
from data.landmarks import LandmarkSet
from data.volume import Volume

NAMES = ["S", "N", "ANS", "Me", "GoR", "GoL", "PoR", "PoL"]
POS = np.array([[0, 20, 30], [0, -50, 40], [0, -55, -10], [0, -45, -60], [-45, 10, -50], [45, 10, -50],
                [-50, 20, 10], [50, 20, 10]], float)


def blob_scan():
    """1.25 mm scan (k superior, i posterior, j left) with a bright ball at each landmark in a soft-tissue head."""
    shape = (128, 120, 120)
    affine = np.array([[0, 0, 1.25, -75], [0, 1.25, 0, -75], [1.25, 0, 0, -90], [0, 0, 0, 1]], float)
    vol = Volume(np.full(shape, -1000.0, np.float32), affine)
    idx = np.indices(shape).reshape(3, -1).T.astype(float)
    lps = vol.index_to_lps(idx)
    arr = vol.array.reshape(-1)
    arr[np.linalg.norm(lps / [70, 80, 85], axis=1) < 1.0] = 40.0  # a head of soft tissue in air
    for p in POS:
        arr[np.linalg.norm(lps - p, axis=1) < 3.0] = 1800.0
    return vol, LandmarkSet(NAMES, POS.copy(), np.ones(len(NAMES), bool))


@pytest.fixture(scope="module")
def scan():
    return blob_scan()


def test_landmarks_follow_the_bright_balls(scan):
    vol, lm = scan
    ct = CTOptions(p_cut_teeth=0, p_cut_chin=0, p_cut_top=0, p_metal=0, p_holder=0, slice_mm=(1.0, 1.5),
                  pixel_mm=(1.0, 1.2))
    for seed in range(3):
        out, olm = augment_ct_case(vol, lm, np.random.default_rng(seed), ct=ct, elastic_mm=3.0, p_noise=0, p_blur=0)
        assert olm.present.all()
        for n in range(len(olm)):
            idx = np.round(out.lps_to_index(olm.coords[n][None])[0]).astype(int)
            lo = np.maximum(idx - 6, 0)
            win = out.array[lo[0]:idx[0] + 7, lo[1]:idx[1] + 7, lo[2]:idx[2] + 7]
            peak = np.argwhere(win > 0.5 * win.max()).mean(0) + lo  # centroid of the ball near the landmark
            assert win.max() > 700, (seed, olm.names[n])
            assert np.linalg.norm(out.index_to_lps(peak[None])[0] - olm.coords[n]) < 1.6, (seed, olm.names[n])


def test_cut_at_the_teeth_makes_the_mandible_absent(scan):
    vol, lm = scan
    ct = CTOptions(p_cut_teeth=1.0, p_cut_top=0)
    out, olm = augment_ct_case(vol, lm, np.random.default_rng(5), ct=ct, p_flip=0)
    assert out.meta["ct_augment"]["fov_cut"].startswith("teeth")
    absent = {n for n, p in zip(olm.names, olm.present) if not p}
    assert {"Me", "GoR", "GoL"} <= absent and "S" not in absent
    assert not out.contains(olm.coords[olm.names.index("Me")][None])[0]


def test_slice_spacing_and_profile(scan):
    vol, lm = scan
    out, _ = augment_ct_case(vol, lm, np.random.default_rng(1), ct=CTOptions(slice_mm=(4.0, 4.0), pixel_mm=(1.1, 1.1)))
    assert np.allclose(out.spacing, [4.0, 1.1, 1.1])
    # box profile: averaging k-slices of a field linear in k gives the value at the new slice centre
    lin = Volume(np.arange(12, dtype=np.float32)[:, None, None] * np.ones((12, 2, 2), np.float32), np.eye(4))
    avg = slice_profile(lin, 4)
    assert avg.shape == (3, 2, 2) and np.allclose(avg.array[:, 0, 0], [1.5, 5.5, 9.5])
    assert np.allclose(avg.index_to_lps(np.array([[1.0, 0, 0]]))[0], [5.5, 0, 0])


def test_same_seed_same_case(scan):
    vol, lm = scan
    ct = CTOptions(slice_mm=(3.0, 3.0), pixel_mm=(1.2, 1.2), p_metal=1.0, p_holder=1.0, p_sharpen=1.0)
    a, la = augment_ct_case(vol, lm, np.random.default_rng(9), ct=ct)
    b, lb = augment_ct_case(vol, lm, np.random.default_rng(9), ct=ct)
    assert {"metal", "holder_hu", "sharpen_amount"} <= set(a.meta["ct_augment"])
    assert np.array_equal(a.array, b.array) and np.array_equal(la.coords, lb.coords, equal_nan=True)


# --------------------------------------------------------------------------- draw vs apply
ALL_CT = CTOptions(slice_mm=(3.0, 3.0), pixel_mm=(1.2, 1.2), p_metal=1.0, p_holder=1.0, p_sharpen=1.0)


def same_case(a, b) -> bool:
    (va, la), (vb, lb) = a, b
    untimed = [{k: v for k, v in v.meta["augment"].items() if not k.endswith("_s")} for v in (va, vb)]
    return (np.array_equal(va.array, vb.array) and np.array_equal(va.affine, vb.affine)
            and va.meta["ct_augment"] == vb.meta["ct_augment"] and untimed[0] == untimed[1]
            and np.array_equal(la.coords, lb.coords, equal_nan=True) and np.array_equal(la.present, lb.present))


@pytest.mark.parametrize("seed", [0, 9])
def test_draw_then_apply_is_augment_ct_case(scan, seed):
    vol, lm = scan
    opt = make_options(None, p_noise=1, p_bias=1)
    rng_a, rng_b = np.random.default_rng(seed), np.random.default_rng(seed)
    params = draw_ct_params(rng_a, vol, lm, opt, ALL_CT)
    assert params.metal and params.holder and params.sharpen
    assert same_case(apply_ct_params(vol, lm, params, opt), augment_ct_case(vol, lm, rng_b, opt, ALL_CT))
    assert rng_a.bit_generator.state == rng_b.bit_generator.state


def test_apply_ct_params_is_deterministic(scan):
    vol, lm = scan
    params = draw_ct_params(np.random.default_rng(9), vol, lm, ct=ALL_CT)
    before = json.dumps(to_jsonable(params))
    a, b = apply_ct_params(vol, lm, params), apply_ct_params(vol, lm, params)
    assert same_case(a, b) and json.dumps(to_jsonable(params)) == before
    assert {"metal", "holder_hu", "sharpen_amount"} <= set(a[0].meta["ct_augment"])


class NoValues:
    """Stands in for a Volume's array: has a shape, refuses to give its values."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def __getattr__(self, name):
        raise AssertionError(f"the draw read the voxel data ({name})")

    def __array__(self, *args, **kwargs):
        raise AssertionError("the draw read the voxel data")


def test_ct_draw_reads_geometry_not_voxel_values(scan):
    vol, lm = scan
    other = Volume(np.where(vol.array > 0, -1000.0, 500.0).astype(np.float32), vol.affine)
    blind = Volume(np.zeros(vol.shape, np.float32), vol.affine)
    blind.array = NoValues(vol.shape)
    drawn = [to_jsonable(draw_ct_params(np.random.default_rng(3), v, lm, ct=ALL_CT)) for v in (vol, other, blind)]
    assert drawn[0] == drawn[1] == drawn[2]


def test_zero_ranges_only_regrid(scan):
    """No pose/shape/intensity change and no CT effects: the scan is just resampled onto the scanner grid."""
    vol, lm = scan
    ct = CTOptions(p_cut_teeth=0, p_cut_chin=0, p_cut_top=0, p_sharpen=0, p_metal=0, p_holder=0,
                   noise_hu=(0.0, 0.0), slice_mm=(1.0, 1.0), pixel_mm=(1.25, 1.25))
    params = draw_ct_params(np.random.default_rng(2), vol, lm, AugmentOptions.none(), ct)
    assert params.sharpen is None and params.metal is None and params.holder is None
    out, olm = apply_ct_params(vol, lm, params, AugmentOptions.none())
    assert olm.equals(lm, atol=1e-9)
    ref = vol.resample_to(out.shape, out.affine)
    np.testing.assert_allclose(out.array, ref.array, atol=1e-2)
