"""``data.slice_stack`` directly (no DICOM): ordering, uniform stacks, uneven gaps, tilt, missing slices."""
import numpy as np
import pytest

from data.errors import InputError
from data.slice_stack import analyse_positions, stack_slices

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # rows along +x, columns along +y: normal +z


def _slices(z: np.ndarray, shape=(6, 7)) -> np.ndarray:
    """Each slice filled with its own z (mm): resampling along k is then checkable exactly."""
    return np.stack([np.full(shape, v, np.float32) for v in z])


def _positions(z, drift_x=0.0) -> np.ndarray:
    z = np.asarray(z, float)
    return np.stack([drift_x * np.arange(len(z)), np.zeros_like(z), z], axis=1)


def test_order_follows_the_normal_not_the_input():
    geo = analyse_positions(_positions([4.0, 0.0, 2.0]), AXIAL, (0.5, 0.5))
    assert geo.order.tolist() == [1, 2, 0]
    assert np.allclose(geo.distances, [0, 2, 4]) and geo.tilt_deg == pytest.approx(0.0)


def test_uniform_stack_keeps_slices_and_geometry():
    z = np.array([0.0, 2.5, 5.0, 7.5])
    vol = stack_slices(_slices(z), _positions(z), AXIAL, (0.5, 0.8), list("abcd"), where="scan")
    assert vol.shape == (4, 6, 7) and vol.meta["notes"] == []
    assert np.allclose(vol.spacing, (2.5, 0.5, 0.8))
    assert np.allclose(vol.index_to_lps([[3, 0, 0]]), [[0, 0, 7.5]])


def test_uneven_gaps_resampled_keeping_first_and_last():
    z = np.array([0.0, 1.0, 2.2, 3.4, 4.4])
    vol = stack_slices(_slices(z), _positions(z), AXIAL, (1.0, 1.0), list("abcde"), where="scan")
    dk = vol.spacing[0]
    assert vol.shape[0] == 5 and dk == pytest.approx(4.4 / 4)
    assert np.allclose(vol.array[:, 0, 0], np.arange(5) * dk, atol=1e-5)  # linear along the normal: value = z
    assert "uneven slice gaps" in vol.meta["notes"][0]


def test_gantry_tilt_corrected_and_grid_widened():
    z = np.arange(5) * 2.0
    vol = stack_slices(_slices(z), _positions(z, drift_x=1.0), AXIAL, (1.0, 1.0), list("abcde"), where="scan")
    assert vol.shape == (5, 6, 7 + 4)  # columns run along x: widened by the 4 mm drift, nothing cropped
    assert "gantry tilt" in vol.meta["notes"][0]


def test_missing_slices_name_the_gap():
    z = np.array([0.0, 1.0, 2.0, 3.0, 9.0, 10.0, 11.0])
    with pytest.raises(InputError) as err:
        stack_slices(_slices(z), _positions(z), AXIAL, (1.0, 1.0), [f"s{n}.dcm" for n in range(7)], where="scan")
    assert "s3.dcm" in str(err.value) or "s4.dcm" in str(err.value)


def test_unsorted_input_is_a_programming_error():
    z = np.array([2.0, 0.0, 4.0])
    with pytest.raises(ValueError, match="sorted"):
        stack_slices(_slices(z), _positions(z), AXIAL, (1.0, 1.0), list("abc"), where="scan")
