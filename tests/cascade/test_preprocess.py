"""Cascade preprocessing: canonical orientation, phase-1 grid, local crops, normalisation."""
import numpy as np
import pytest

from cascade.canonical import to_canonical
from cascade.crops import CropSpec, extract_crop
from cascade.global_grid import GlobalGrid, global_input, shrink
from cascade.intensity import normalise
from data.volume import Volume, affine_from_geometry


def grid_index(shape):
    return np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)


@pytest.mark.parametrize("dirs", [
    ([0, 0, 1], [0, 1, 0], [1, 0, 0]),      # axial DICOM: already canonical
    ([1, 0, 0], [0, 0, -1], [0, 1, 0]),     # sagittal-like
    ([-1, 0, 0], [0, -1, 0], [0, 0, 1]),    # NIfTI RAS-like array order (x, y, z) flipped
])
def test_canonical_view_keeps_every_voxel_in_place(dirs):
    rng = np.random.default_rng(0)
    vol = Volume(rng.normal(size=(5, 6, 7)).astype(np.float32),
                 affine_from_geometry([3, -4, 5], *dirs, [1.0, 2.0, 3.0]))
    can = to_canonical(vol)
    assert np.allclose(can.directions, [[0, 0, 1], [0, 1, 0], [1, 0, 0]])  # k->S(z), i->P(y), j->L(x)
    idx = grid_index(vol.shape).reshape(-1, 3)
    lps = vol.index_to_lps(idx)
    back = np.rint(can.lps_to_index(lps)).astype(int)
    assert np.allclose(can.index_to_lps(back), lps)
    assert np.array_equal(can.array[tuple(back.T)], vol.array[tuple(idx.T)])


def test_global_grid_maps_field_of_view_to_centred_unit_cube():
    vol = Volume(np.zeros((40, 100, 120), np.float32), affine_from_geometry([0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [2.5, 0.5, 0.5]))
    grid = GlobalGrid.for_volume(vol, (16, 20, 24))
    assert np.allclose(grid.spacing, [2.5 * 40 / 16, 0.5 * 100 / 20, 0.5 * 120 / 24])
    edge_lo = vol.index_to_lps([-0.5, -0.5, -0.5])
    edge_hi = vol.index_to_lps([39.5, 99.5, 119.5])
    assert np.allclose(grid.lps_to_normalised(edge_lo), -0.5) and np.allclose(grid.lps_to_normalised(edge_hi), 0.5)
    assert np.allclose(grid.lps_to_normalised(vol.center_lps()), 0)
    pts = np.random.default_rng(1).uniform(-50, 150, (20, 3))
    assert np.allclose(grid.normalised_to_lps(grid.lps_to_normalised(pts)), pts)


def test_shrink_is_area_average_and_keeps_a_blob_in_place():
    arr = np.zeros((60, 90, 90), np.float32)
    arr[30:36, 45:54, 18:27] = 1.0  # a bone block
    vol = Volume(arr, affine_from_geometry([0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [1.5, 0.8, 0.8]))
    small, grid = global_input(vol, (20, 30, 30))
    assert np.isclose(small.sum() * 27, arr.sum(), rtol=1e-4)  # area interpolation conserves mass
    centre_small = (grid_index(small.shape) * small[..., None]).sum(axis=(0, 1, 2)) / small.sum() + 0.5
    centre_lps = grid.normalised_to_lps(centre_small / small.shape - 0.5)
    assert np.allclose(vol.lps_to_index(centre_lps), [32.5, 49, 22], atol=0.05)
    assert shrink(np.ones((5, 8, 8), np.float32), (10, 4, 4)).shape == (10, 4, 4)  # growing along k works


def test_crop_centred_on_point_and_target_round_trip():
    rng = np.random.default_rng(2)
    vol = Volume(rng.normal(size=(30, 40, 50)).astype(np.float32),
                 affine_from_geometry([10, 20, 30], [0, 0, 1], [0, 1, 0], [1, 0, 0], [2.0, 1.0, 1.0]))
    spec = CropSpec((5, 9, 9), (2.0, 1.0, 1.0))
    centre_idx = np.array([12, 17, 25])
    crop, aff = extract_crop(vol, spec, vol.index_to_lps(centre_idx))
    assert crop.shape == (5, 9, 9) and crop.dtype == np.float32
    assert np.allclose(crop, vol.array[10:15, 13:22, 21:30], atol=1e-5)  # same grid: exact copy
    p = vol.index_to_lps([13.3, 15.2, 27.9])
    t = spec.lps_to_target(aff, p)
    assert np.all(np.abs(t) < 0.5)
    assert np.allclose(spec.target_to_lps(aff, t), p)
    # outside the scan: padding
    crop, _ = extract_crop(vol, spec, vol.index_to_lps([0, 0, 0]), fill=-7.0)
    assert crop[0, 0, 0] == -7.0 and crop[-1, -1, -1] != -7.0


def test_normalise_modes():
    hu = np.array([[[-1000.0, 0.0, 299.0, 300.0, 2500.0]]])
    assert normalise(hu, "bone", 300).tolist() == [[[0, 0, 0, 1, 1]]]
    assert np.allclose(normalise(hu, "window"), [[[-1, 0, 0.299, 0.3, 2.0]]])
    mri = np.random.default_rng(0).uniform(0, 500, (10, 10, 10))
    n = normalise(mri, "intensity")
    assert -0.5 <= n.min() and n.max() <= 2.0 and 0.3 < np.median(n) < 0.7
    with pytest.raises(ValueError, match="unknown intensity mode"):
        normalise(hu, "nope")
