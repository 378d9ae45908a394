"""DICOM reader on synthetic series with known geometry and values."""
import os

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000Lossless, RLELossless

from data.dicom_read import list_series, read_dicom
from data.errors import InputError
from tests.conftest import axial_positions, linear_field, write_field_series

AXIAL = dict(row_dir=[0, 1, 0], col_dir=[1, 0, 0])


def all_index(vol):
    return np.stack(np.meshgrid(*[np.arange(n) for n in vol.shape], indexing="ij"), axis=-1)


def assert_field(vol, tol=1.0, margin=0):
    """Every voxel holds linear_field of its LPS position (int16 storage rounds to 0.5)."""
    idx = all_index(vol)
    expect = linear_field(vol.index_to_lps(idx))
    sl = tuple(slice(margin, n - margin) for n in vol.shape)
    err = np.abs(vol.array - expect)[sl]
    assert err.max() <= tol, f"max error {err.max():.3f}"


def shuffle_names(files, seed=0):
    """Rename files so that name order and InstanceNumber say nothing about position."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(files))
    tmp = [files[0].with_name(f"tmp{i}") for i in range(len(files))]
    for f, t in zip(files, tmp):
        os.rename(f, t)
    for i, t in zip(perm, tmp):
        os.rename(t, t.with_name(f"IMG{i:05d}"))  # no .dcm suffix, as many scanners write


def test_axial_uniform_sorted_by_position_not_name(tmp_path):
    files = write_field_series(tmp_path / "s", axial_positions([1.25] * 9), **AXIAL)
    shuffle_names(files)
    vol = read_dicom(tmp_path / "s")
    assert vol.shape == (10, 40, 48)
    assert np.allclose(vol.spacing, [1.25, 0.9, 0.8])
    assert np.allclose(vol.index_to_lps([0, 0, 0]), [-20, -15, 10])
    assert np.allclose(vol.index_to_lps([9, 2, 3]), [-20 + 3 * 0.8, -15 + 2 * 0.9, 10 + 9 * 1.25])
    assert vol.meta["notes"] == []
    assert_field(vol)


def test_uneven_gap_resampled_onto_uniform_grid(tmp_path):
    gaps = [1.5] * 6 + [1.0] + [1.5] * 4
    write_field_series(tmp_path / "s", axial_positions(gaps), **AXIAL)
    vol = read_dicom(tmp_path / "s")
    extent = sum(gaps)
    assert vol.shape[0] == round(extent / 1.5) + 1
    assert np.isclose(vol.spacing[0] * (vol.shape[0] - 1), extent)  # first and last slice kept
    assert any("uneven slice gaps" in n for n in vol.meta["notes"])
    assert_field(vol)


@pytest.mark.parametrize("missing", [3, 7])
def test_missing_slices_are_an_error_naming_the_gap(tmp_path, missing):
    pos = np.delete(axial_positions([1.5] * 11), missing, axis=0)
    write_field_series(tmp_path / "s", pos, **AXIAL)
    with pytest.raises(InputError, match=r"gap of 3\.00 mm between slice_\d+\.dcm and slice_\d+\.dcm"):
        read_dicom(tmp_path / "s")


def test_variable_thickness_protocol_is_not_a_missing_gap(tmp_path):
    """Like the GE scan: 4 mm slices, then 7 mm slices (a protocol, not lost data)."""
    write_field_series(tmp_path / "s", axial_positions([4.0] * 5 + [1.08] + [7.0] * 5), **AXIAL)
    vol = read_dicom(tmp_path / "s")
    assert_field(vol)


@pytest.mark.parametrize("tilt_deg", [12.0, -18.5])
def test_gantry_tilt_corrected_onto_orthogonal_grid(tmp_path, tilt_deg):
    t = np.radians(tilt_deg)
    row_dir = np.array([0.0, np.cos(t), -np.sin(t)])  # tilted plane, as the GE scan
    col_dir = np.array([1.0, 0.0, 0.0])
    positions = np.array([[-20.0, -15.0, 10.0 + 3.0 * k] for k in range(12)])  # table moves along z only
    write_field_series(tmp_path / "s", positions, row_dir, col_dir, gantry_tilt=tilt_deg)
    vol = read_dicom(tmp_path / "s")
    assert vol.is_orthogonal()
    assert any(f"gantry tilt of {abs(tilt_deg):.1f} deg corrected" in n for n in vol.meta["notes"])
    # every output voxel lying on a source slice's pixels holds the value of that physical point
    idx = all_index(vol)
    lps = vol.index_to_lps(idx)
    src = lps - positions[:, None, None, :]  # output slice k comes from source slice k (uniform gaps)
    si, sj = src @ row_dir / 0.9, src @ col_dir / 0.8
    ok = (si >= 1) & (si <= 38) & (sj >= 1) & (sj <= 46)
    assert ok.sum() > 0.5 * 12 * 40 * 48
    assert np.abs(vol.array - linear_field(lps))[ok].max() < 2.0
    # no data cropped: the grid grew to hold the drift
    drift_px = 3.0 * 11 * np.sin(abs(t)) / np.cos(t) / 0.9
    assert vol.shape[1] >= 40 + int(drift_px)


def test_oblique_orientation(tmp_path):
    c, s = np.cos(0.4), np.sin(0.4)
    col_dir = np.array([c, s, 0.0])
    row_dir = np.array([-s * 0.6, c * 0.6, 0.8])
    normal = np.cross(col_dir, row_dir)
    positions = np.array([[1.0, 2.0, 3.0]]) + np.outer(np.arange(8) * 2.0, normal)
    write_field_series(tmp_path / "s", positions[::-1], row_dir, col_dir)
    vol = read_dicom(tmp_path / "s")
    assert np.allclose(vol.index_to_lps([0, 0, 0]), [1.0, 2.0, 3.0], atol=1e-4)
    assert np.allclose(vol.directions[:, 0], normal, atol=1e-5)
    assert_field(vol)


def test_enhanced_multiframe_reads_like_single_frames(tmp_path):
    pos = axial_positions([2.0] * 7)
    write_field_series(tmp_path / "single", pos, **AXIAL)
    write_field_series(tmp_path / "multi", pos, multiframe=True, **AXIAL)
    a, b = read_dicom(tmp_path / "single"), read_dicom(tmp_path / "multi" / "multiframe.dcm")
    assert len(os.listdir(tmp_path / "multi")) == 1
    assert np.array_equal(a.array, b.array) and np.allclose(a.affine, b.affine)


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless], ids=["rle", "jpeg2000"])
def test_compressed_transfer_syntaxes_decode(tmp_path, syntax):
    pos = axial_positions([2.0] * 4)
    write_field_series(tmp_path / "plain", pos, **AXIAL)
    files = write_field_series(tmp_path / "comp", pos, transfer_syntax=syntax, **AXIAL)
    assert pydicom.dcmread(files[0]).file_meta.TransferSyntaxUID == syntax
    assert np.array_equal(read_dicom(tmp_path / "plain").array, read_dicom(tmp_path / "comp").array)


def test_series_grouping_and_choice(tmp_path):
    write_field_series(tmp_path / "a", axial_positions([2.0] * 9), seed="big", **AXIAL)
    write_field_series(tmp_path / "b", axial_positions([2.0] * 4), seed="small", shape_ij=(20, 20), **AXIAL)
    series = list_series(tmp_path)
    assert [len(s.slices) for s in series] == [10, 5]
    assert read_dicom(tmp_path).shape == (10, 40, 48)
    small = read_dicom(tmp_path, series_uid=series[1].uid)
    assert small.shape == (5, 20, 20) and small.meta["series_uid"] == series[1].uid
    assert any("1 other series" in n for n in read_dicom(tmp_path).meta["notes"])
    with pytest.raises(InputError, match="series 1.2.3 not found; series present"):
        read_dicom(tmp_path, series_uid="1.2.3")


def test_junk_localizers_dicomdir_and_non_images_are_skipped(tmp_path):
    folder = tmp_path / "s"
    write_field_series(folder, axial_positions([2.0] * 5), **AXIAL)
    (folder / "README.txt").write_text("not an image")
    loc = write_field_series(tmp_path / "loc", axial_positions([2.0]), seed="loc", **AXIAL)[0]
    ds = pydicom.dcmread(loc)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.save_as(folder / "scout.dcm")
    sr = pydicom.dcmread(loc)
    del sr.PixelData
    sr.SOPClassUID = sr.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    sr.save_as(folder / "report.dcm")
    dd = pydicom.dcmread(loc)
    dd.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    dd.save_as(folder / "DICOMDIR")
    vol = read_dicom(folder)
    assert vol.shape[0] == 6
    note = [n for n in vol.meta["notes"] if n.startswith("skipped")][0]
    for what in ("1 DICOMDIR", "1 localizers", "1 non-image objects", "1 not DICOM"):
        assert what in note


def test_mr_is_read_with_a_warning_note(tmp_path):
    write_field_series(tmp_path / "s", axial_positions([2.0] * 4), modality="MR", **AXIAL)
    vol = read_dicom(tmp_path / "s")
    assert vol.meta["modality"] == "MR"
    assert "not CT" in vol.meta["notes"][0]


def test_rescale_applied_per_slice(tmp_path):
    files = write_field_series(tmp_path / "s", axial_positions([2.0] * 3), **AXIAL)
    ds = pydicom.dcmread(files[1])
    ds.RescaleSlope, ds.RescaleIntercept = "2", "-2048"  # stored values unchanged -> HU doubled + offset
    ds.save_as(files[1])
    vol = read_dicom(tmp_path / "s")
    raw = ds.pixel_array.astype(float)
    assert np.allclose(vol.array[1], raw * 2 - 2048)
