"""Volume geometry: index <-> LPS round trips and resampling."""
import numpy as np
import pytest

from data.volume import Volume, affine_from_geometry
from tests.conftest import linear_field


def random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def field_volume(affine, shape):
    vol = Volume(np.zeros(shape, np.float32), affine)
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    vol.array = linear_field(vol.index_to_lps(idx)).astype(np.float32)
    return vol


@pytest.mark.parametrize("seed", range(5))
def test_index_lps_round_trip_any_affine(seed):
    rng = np.random.default_rng(seed)
    rot = random_rotation(rng)
    a = affine_from_geometry(rng.normal(0, 100, 3), rot[:, 0], rot[:, 1], rot[:, 2], rng.uniform(0.3, 5, 3))
    vol = Volume(np.zeros((4, 5, 6)), a)
    idx = rng.uniform(-10, 50, size=(100, 3))
    assert np.allclose(vol.lps_to_index(vol.index_to_lps(idx)), idx, atol=1e-9)
    pts = rng.normal(0, 200, size=(7, 3))
    assert np.allclose(vol.index_to_lps(vol.lps_to_index(pts)), pts, atol=1e-9)
    assert np.allclose(vol.spacing, np.linalg.norm(a[:3, :3], axis=0))


def test_index_to_lps_by_hand():
    a = affine_from_geometry([10, 20, 30], [0, 0, -1], [0, 1, 0], [1, 0, 0], [2.0, 0.5, 0.25])
    vol = Volume(np.zeros((3, 3, 3)), a)
    # k steps -2 mm in z, i steps +0.5 mm in y, j steps +0.25 mm in x
    assert np.allclose(vol.index_to_lps([1, 2, 4]), [11.0, 21.0, 28.0])
    assert np.allclose(vol.spacing, [2.0, 0.5, 0.25])
    assert vol.contains([[10, 20, 30], [10, 20, 33]]).tolist() == [True, False]


def test_bad_volume_rejected():
    with pytest.raises(ValueError):
        Volume(np.zeros((3, 3)), np.eye(4))
    with pytest.raises(ValueError):
        Volume(np.zeros((3, 3, 3)), np.zeros((4, 4)))


def test_resample_linear_field_exact():
    rot = random_rotation(np.random.default_rng(3))
    vol = field_volume(affine_from_geometry([5, -7, 9], rot[:, 0], rot[:, 1], rot[:, 2], [1.3, 0.7, 0.9]), (12, 20, 18))
    out = vol.resample([0.8, 1.1, 1.5])
    assert np.allclose(out.spacing, [0.8, 1.1, 1.5])
    assert np.allclose(out.index_to_lps([0, 0, 0]), vol.index_to_lps([0, 0, 0]))
    assert np.allclose(out.directions, vol.directions)
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in out.shape], indexing="ij"), axis=-1)
    assert np.abs(out.array - linear_field(out.index_to_lps(idx))).max() < 1e-2
    # the new grid stays inside the old extent
    assert np.all(vol.contains(out.corners_lps(), margin_vox=1e-6))


def test_resample_nearest_keeps_labels_and_identity_is_identity():
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 4, size=(6, 7, 8)).astype(np.uint8)
    vol = Volume(mask, affine_from_geometry([0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [1, 1, 1]))
    same = vol.resample_to(vol.shape, vol.affine, order=0)
    assert np.array_equal(same.array, mask) and same.array.dtype == np.uint8
    half = vol.resample([0.5, 0.5, 0.5], order=0)
    assert set(np.unique(half.array)) <= {0, 1, 2, 3}
    assert half.array[2, 4, 6] == mask[1, 2, 3]


@pytest.mark.parametrize("order", [0, 1])
def test_axis_aligned_fast_path_matches_scipy(order):
    """resample_to's separable path (diagonal grids) equals scipy's general affine resampling."""
    from scipy import ndimage

    from data.volume import _separable

    rng = np.random.default_rng(order)
    src = rng.normal(size=(20, 30, 25)).astype(np.float32)
    for _ in range(25):
        scale, offset, shape = rng.uniform(0.3, 2.5, 3), rng.uniform(-8, 20, 3), rng.integers(1, 30, 3)
        ref = ndimage.affine_transform(src, np.diag(scale), offset=offset, output_shape=tuple(shape), order=order,
                                       mode="grid-constant", cval=-5.0, prefilter=False)
        got = _separable(src, [scale[a] * np.arange(shape[a]) + offset[a] for a in range(3)], order, -5.0)
        assert got.shape == ref.shape and np.abs(got - ref).max() < 1e-4


def test_crop_keeps_every_voxel_where_it_was():
    rng = np.random.default_rng(0)
    aff = np.eye(4)
    aff[:3, :3] = np.linalg.qr(rng.normal(size=(3, 3)))[0] @ np.diag([2.0, 0.7, 0.9])
    aff[:3, 3] = [10.0, -5.0, 3.0]
    vol = Volume(rng.normal(size=(8, 9, 10)).astype(np.float32), aff)
    sub = vol.crop([2, -3, 4], [6, 5, 99])  # clipped to the grid
    assert sub.shape == (4, 5, 6)
    idx = np.array([[1.0, 2.0, 3.0]])
    k, i, j = np.round(vol.lps_to_index(sub.index_to_lps(idx))[0]).astype(int)
    assert (k, i, j) == (3, 2, 7) and sub.array[1, 2, 3] == vol.array[k, i, j]
