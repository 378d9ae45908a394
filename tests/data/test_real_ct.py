"""The reader on the real head CTs in ../shared/data (skipped when that folder is absent)."""
import numpy as np
import pydicom
import pytest
from scipy import ndimage

from data.dicom_read import read_dicom
from tests.conftest import shared_path


def raw_slices(folder):
    """(IPP, HU array, header) of each file, sorted by z by hand (these scans' normals are +z)."""
    out = []
    for f in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(f)
        hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        out.append((np.array([float(v) for v in ds.ImagePositionPatient]), hu, ds))
    return sorted(out, key=lambda t: t[0][2])


@pytest.fixture(scope="module")
def invesalius():
    folder = shared_path("ct", "invesalius-0051")
    return read_dicom(folder), raw_slices(folder)


def test_invesalius_slices_sorted_and_gap_resampled(invesalius):
    vol, raw = invesalius
    assert len(raw) == 108 and vol.meta["n_source_slices"] == 108
    z = np.array([p[2] for p, _, _ in raw])
    gaps = np.round(np.diff(z), 3)
    assert sorted(set(gaps)) == [1.0, 1.5] and list(gaps).count(1.0) == 1
    assert any("uneven slice gaps (1, 1.5 mm)" in n for n in vol.meta["notes"])
    assert vol.shape == (108, 512, 512)
    # first and last slice are the lowest and highest file, exactly
    assert np.array_equal(vol.array[0], raw[0][1].astype(np.float32))
    assert np.array_equal(vol.array[-1], raw[-1][1].astype(np.float32))
    assert np.isclose(vol.meta["slice_positions_mm"][-1], z[-1] - z[0])


def test_invesalius_affine_matches_headers_by_hand(invesalius):
    vol, raw = invesalius
    ipp0, _, ds = raw[0]
    ps = [float(v) for v in ds.PixelSpacing]
    assert np.allclose(ipp0, [-122.49999, -167.49999, 116.0])
    assert np.allclose(vol.spacing[1:], ps) and np.isclose(ps[0], 0.4785156)
    # voxel (k=0, row 10, column 20): 20 columns along +x, 10 rows along +y from IPP
    assert np.allclose(vol.index_to_lps([0, 10, 20]), ipp0 + [20 * ps[1], 10 * ps[0], 0.0])
    # the top slice sits at the top file's IPP
    assert np.allclose(vol.index_to_lps([107, 0, 0]), raw[-1][0], atol=1e-6)
    assert np.allclose(vol.index_to_lps([107, 0, 0]), [-122.49999, -167.49999, 276.0], atol=1e-6)
    # and back
    assert np.allclose(vol.lps_to_index(raw[-1][0] + [ps[1] * 5, ps[0] * 7, 0]), [107, 7, 5])
    # a slice in the uniform part: file 50 is 75 mm above the first, i.e. index 75 / dk
    k50 = (raw[50][0][2] - ipp0[2]) / vol.spacing[0]
    assert np.allclose(vol.lps_to_index(raw[50][0]), [k50, 0, 0], atol=1e-9)
    assert np.abs(vol.array.min() + 1024) < 1 and vol.array.max() > 2000  # HU: air and dense bone


def test_ge_tilt_detected_and_corrected():
    folder = shared_path("ct", "ge-tilt")
    vol = read_dicom(folder)
    raw = raw_slices(folder)
    assert vol.meta["gantry_tilt_tag"] == pytest.approx(18.5)
    assert any("gantry tilt of 18.5 deg corrected" in n for n in vol.meta["notes"])
    assert vol.is_orthogonal()
    iop = np.array([float(v) for v in raw[0][2].ImageOrientationPatient])
    assert np.allclose(vol.directions[:, 0], np.cross(iop[:3], iop[3:]), atol=1e-5)
    # source pixels of a slice in the 4 mm part land on the same values in the corrected grid
    ipp, hu, ds = raw[6]
    ps = [float(v) for v in ds.PixelSpacing]
    ii, jj = np.mgrid[100:400:7, 100:400:7]
    lps = ipp + ii[..., None] * ps[0] * iop[3:] + jj[..., None] * ps[1] * iop[:3]
    idx = vol.lps_to_index(lps.reshape(-1, 3))
    sampled = ndimage.map_coordinates(vol.array, idx.T, order=1)
    truth = hu[ii, jj].ravel()
    assert np.corrcoef(sampled, truth)[0, 1] > 0.98
    assert np.median(np.abs(sampled - truth)) < 15
