"""NIfTI reader/writer: axis and RAS->LPS conventions, round trips, bad files."""
from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from data.errors import InputError
from data.nifti import read_nifti, write_nifti
from data.volume import Volume, affine_from_geometry


def oblique_volume() -> Volume:
    """Distinct axis lengths, anisotropic spacing, an oblique rotation and an offset origin."""
    c, s = np.cos(0.3), np.sin(0.3)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    affine = affine_from_geometry([-12.5, 30.25, 7.0], rot[:, 2], rot[:, 1], rot[:, 0], [2.5, 0.75, 1.25])
    array = (np.arange(5 * 6 * 7).reshape(5, 6, 7) * 37 % 1000 - 300).astype(np.int16)
    return Volume(array, affine, {"modality": "CT"})


@pytest.mark.parametrize("name", ["v.nii.gz", "v.nii"])
def test_round_trip_is_identity(tmp_path: Path, name: str) -> None:
    vol = oblique_volume()
    out = write_nifti(vol, tmp_path / name)
    assert out == tmp_path / name and [p.name for p in tmp_path.iterdir()] == [name]
    back = read_nifti(out)
    assert back.array.dtype == np.float32 and back.shape == vol.shape
    np.testing.assert_array_equal(back.array, vol.array)
    np.testing.assert_allclose(back.affine, vol.affine, atol=1e-5)  # NIfTI stores the affine as float32
    assert back.meta["source"] == str(out) and back.meta["modality"] == "MR" and back.meta["notes"] == []
    pts = np.random.default_rng(1).uniform(-50, 50, size=(20, 3))
    np.testing.assert_allclose(back.index_to_lps(back.lps_to_index(pts)), pts, atol=1e-9)
    idx = np.random.default_rng(2).uniform(0, 5, size=(20, 3))
    np.testing.assert_allclose(back.lps_to_index(vol.index_to_lps(idx)), idx, atol=1e-4)


def test_axes_and_ras_to_lps_by_hand(tmp_path: Path) -> None:
    """A hot voxel at NIfTI (a0, a1, a2) = (1, 2, 3) must be our [k, i, j] = [3, 2, 1], at LPS
    (-(x_ras), -(y_ras), z_ras) of the NIfTI affine."""
    data = np.zeros((4, 5, 6), np.int16)
    data[1, 2, 3] = 100
    ras = np.array([[2.0, 0, 0, -10], [0, 3.0, 0, 20], [0, 0, 4.0, 5], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(data, ras), tmp_path / "hot.nii")
    vol = read_nifti(tmp_path / "hot.nii", modality="CT")
    assert vol.shape == (6, 5, 4) and vol.meta["modality"] == "CT"
    assert tuple(np.argwhere(vol.array == 100)[0]) == (3, 2, 1)
    np.testing.assert_allclose(vol.index_to_lps([3, 2, 1]), [-(2 * 1 - 10), -(3 * 2 + 20), 4 * 3 + 5])
    np.testing.assert_allclose(vol.spacing, [4, 3, 2])


def test_scaling_applied(tmp_path: Path) -> None:
    img = nib.Nifti1Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.eye(4))
    img.header.set_slope_inter(2.0, -10.0)
    nib.save(img, tmp_path / "s.nii.gz")
    vol = read_nifti(tmp_path / "s.nii.gz")
    np.testing.assert_array_equal(vol.array, (np.arange(24).reshape(2, 3, 4) * 2.0 - 10).transpose(2, 1, 0))


def test_4d_single_volume_squeezed(tmp_path: Path) -> None:
    data = np.random.default_rng(0).random((3, 4, 5, 1)).astype(np.float32)
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "one.nii")
    vol = read_nifti(tmp_path / "one.nii")
    np.testing.assert_array_equal(vol.array, data[..., 0].transpose(2, 1, 0))
    assert vol.meta["notes"] == []


def test_4d_several_volumes_uses_first_with_note(tmp_path: Path) -> None:
    data = np.random.default_rng(0).random((3, 4, 5, 3)).astype(np.float32)
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "many.nii.gz")
    vol = read_nifti(tmp_path / "many.nii.gz")
    np.testing.assert_array_equal(vol.array, data[..., 0].transpose(2, 1, 0))
    assert len(vol.meta["notes"]) == 1 and "3 volumes" in vol.meta["notes"][0]


def test_no_orientation_gives_note(tmp_path: Path) -> None:
    img = nib.Nifti1Image(np.arange(24, dtype=np.float32).reshape(2, 3, 4), None)
    img.header.set_sform(None, code=0)
    img.header.set_qform(None, code=0)
    nib.save(img, tmp_path / "bare.nii")
    assert any("no sform/qform" in n for n in read_nifti(tmp_path / "bare.nii").meta["notes"])


def _truncated(path: Path) -> None:
    """Header intact, data cut short (noise so the gzip stream is long)."""
    noise = np.random.default_rng(0).normal(size=(30, 30, 30)).astype(np.float32)
    write_nifti(Volume(noise, np.eye(4)), path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


@pytest.mark.parametrize("name, make, problem", [
    ("missing.nii.gz", lambda p: None, "file not found"),
    ("text.nii", lambda p: p.write_text("this is not an image\n" * 30), "cannot read NIfTI"),
    ("empty.nii.gz", lambda p: p.write_bytes(b""), "cannot read NIfTI"),
    ("garbage.nii.gz", lambda p: p.write_bytes(gzip.compress(b"\x00" * 100)), "cannot read NIfTI"),
    ("truncated.nii.gz", _truncated, "cannot read NIfTI"),
    ("truncated.nii", _truncated, "cannot read NIfTI"),
    ("flat.nii", lambda p: nib.save(nib.Nifti1Image(np.zeros((3, 4), np.float32), np.eye(4)), p), "expected a 3D"),
])
def test_bad_files(tmp_path: Path, name: str, make, problem: str) -> None:
    path = tmp_path / name
    make(path)
    with pytest.raises(InputError) as info:
        read_nifti(path)
    assert name in str(info.value) and problem in str(info.value) and "\n" not in str(info.value)


def test_write_needs_nifti_name(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="must end in .nii or .nii.gz"):
        write_nifti(oblique_volume(), tmp_path / "v.nrrd")
