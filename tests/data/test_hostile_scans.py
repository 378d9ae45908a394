"""Hostile scans (issue 14, items 3, 5, 7, 8): each is refused with one line naming the file, or read correctly."""
import gzip
import struct

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from data.dicom_read import read_dicom
from data.errors import InputError
from data.load import load_volume
from data.nifti import read_nifti
from data.scan_info import main as scan_info_main
from tests.conftest import axial_positions, write_field_series

AXIAL = dict(row_dir=[0, 1, 0], col_dir=[1, 0, 0])


def series(folder, n=6):
    return write_field_series(folder, axial_positions([2.0] * (n - 1)), **AXIAL)


def set_raw(path, **values):
    """Write header values as raw bytes, bypassing pydicom's own validation (as a broken writer would)."""
    ds = pydicom.dcmread(path)
    for key, val in values.items():
        tag, vr = Tag(pydicom.datadict.tag_for_keyword(key)), pydicom.datadict.dictionary_VR(key).split(" or ")[0]
        if vr in ("US", "SS"):
            raw = struct.pack("<H", val % 65536)
        else:
            raw = ("\\".join(val) if isinstance(val, list) else str(val)).encode()
            raw += b" " * (len(raw) % 2)
        ds._dict[tag] = RawDataElement(tag, vr, len(raw), raw, 0, False, True)
    ds.save_as(path, enforce_file_format=False)


# (header values written into one slice (index), where the error points, expected text)
HEADER_CASES = [
    ({"PixelSpacing": ["-0.9", "-0.8"]}, None, "invalid PixelSpacing [-0.9, -0.8]: must be positive"),
    ({"PixelSpacing": ["0", "0.8"]}, None, "invalid PixelSpacing [0.0, 0.8]"),
    ({"PixelSpacing": ["nan", "0.8"]}, None, "missing or invalid PixelSpacing"),
    ({"PixelSpacing": ["abc", "1"]}, None, "missing or invalid PixelSpacing"),
    ({"ImageOrientationPatient": ["0"] * 6}, None, "invalid ImageOrientationPatient"),
    ({"ImageOrientationPatient": ["1", "0", "0", "1", "0", "0"]}, None, "not two perpendicular unit vectors"),
    ({"ImageOrientationPatient": ["2", "0", "0", "0", "2", "0"]}, None, "not two perpendicular unit vectors"),
    ({"ImagePositionPatient": ["1e300", "0", "0"]}, None, "missing or invalid ImagePositionPatient"),
    ({"RescaleSlope": "0"}, None, "RescaleSlope is 0"),
    ({"RescaleSlope": "nan"}, None, "invalid RescaleSlope 'nan'"),
    ({"RescaleSlope": "abc"}, None, "invalid RescaleSlope 'abc': not a number"),
    ({"RescaleIntercept": "zz"}, None, "invalid RescaleIntercept 'zz'"),
    ({"NumberOfFrames": "many"}, None, "invalid NumberOfFrames 'many'"),
    ({"NumberOfFrames": "0"}, None, "invalid NumberOfFrames 0"),
    ({"Rows": 0}, None, "invalid image size"),
]


@pytest.mark.parametrize("which", [0, 3, 5], ids=["first", "middle", "last"])
@pytest.mark.parametrize("values,where,text", HEADER_CASES, ids=[c[2][:40] for c in HEADER_CASES])
def test_bad_header_value_in_any_slice_names_that_file(tmp_path, values, where, text, which):
    files = series(tmp_path / "scan")
    set_raw(files[which], **values)
    with pytest.raises(InputError) as err:
        read_dicom(tmp_path / "scan")
    assert text in str(err.value) and "\n" not in str(err.value)
    assert err.value.path == str(files[which])


def test_text_in_informative_tags_is_ignored(tmp_path):
    files = series(tmp_path / "scan")
    set_raw(files[2], SliceThickness="thick", GantryDetectorTilt="tilted")
    assert read_dicom(tmp_path / "scan").shape == (6, 40, 48)


@pytest.mark.parametrize("which", [0, 3, 5], ids=["first", "middle", "last"])
@pytest.mark.parametrize("keep", [0, 60, 130, 200, 400, 1500, -1])
def test_truncated_slice_anywhere_is_an_error_naming_it(tmp_path, which, keep):
    files = series(tmp_path / "scan")
    files[which].write_bytes(files[which].read_bytes()[:keep])
    with pytest.raises(InputError) as err:
        read_dicom(tmp_path / "scan")
    assert err.value.path == str(files[which]), str(err.value)


def test_truncated_preamble_without_dicom_name_is_an_error(tmp_path):
    files = series(tmp_path / "scan")
    broken = files[3].rename(tmp_path / "scan" / "IM0003")
    broken.write_bytes(broken.read_bytes()[:130])
    (tmp_path / "scan" / "notes.txt").write_text("not a slice")  # still skipped, not an error
    with pytest.raises(InputError, match="IM0003: not a readable DICOM file"):
        read_dicom(tmp_path / "scan")


@pytest.mark.parametrize("value", [0, 500])
def test_blank_or_constant_dicom_is_refused(tmp_path, value):
    for f in series(tmp_path / "scan"):
        ds = pydicom.dcmread(f)
        ds.PixelData = np.full((40, 48), value, np.int16).tobytes()
        ds.save_as(f)
    with pytest.raises(InputError, match="blank scan: every voxel is"):
        read_dicom(tmp_path / "scan")


def test_single_dicom_slice_refused_even_with_slice_thickness(tmp_path):
    f = series(tmp_path / "scan", n=1)[0]
    assert "SliceThickness" in pydicom.dcmread(f)
    with pytest.raises(InputError, match="only one image slice"):
        read_dicom(tmp_path / "scan")


def test_decoded_size_checked_from_the_header_before_decoding(tmp_path, monkeypatch):
    files = series(tmp_path / "scan")
    with pytest.raises(InputError, match=r"6 x 40 x 48 = 11520 voxels .* exceeds the limit of 10000 voxels"):
        load_volume(tmp_path / "scan", max_voxels=10_000)
    with pytest.raises(InputError, match="exceeds the limit"):
        load_volume(tmp_path / "scan", max_bytes=40_000)
    for f in files:  # a header claiming 65535 x 65535: refused without decoding anything
        set_raw(f, Rows=65535, Columns=65535)
    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(lambda self: pytest.fail("decoded")))
    with pytest.raises(InputError, match="65535 x 65535 .* exceeds the limit"):
        read_dicom(tmp_path / "scan")
    assert scan_info_main([str(tmp_path / "scan"), "--max-voxels", "100"]) == 2


# --------------------------------------------------------------------------- NIfTI
def nifti(path, data, affine=np.diag([1.0, 1.0, 2.0, 1.0]), patch=()):
    nib.save(nib.Nifti1Image(data, affine), path)
    raw = bytearray(path.read_bytes())
    for offset, fmt, values in patch:
        raw[offset:offset + struct.calcsize(fmt)] = struct.pack(fmt, *values)
    path.write_bytes(bytes(raw))
    return path


def noise(shape=(10, 12, 8)):
    return np.random.default_rng(0).normal(size=shape).astype(np.float32)


def bare_pixdim(path, value):
    img = nib.Nifti1Image(noise(), None)
    img.header.set_qform(np.diag([1.0, 1.0, 2.0, 1.0]), code=1)
    img.header.set_sform(None, code=0)
    nib.save(img, path)
    raw = bytearray(path.read_bytes())
    raw[80:84] = struct.pack("<f", value)  # pixdim[1]
    path.write_bytes(bytes(raw))


NIFTI_CASES = [  # (maker, expected text)
    (lambda p: nifti(p, np.full((8, 8, 8), np.nan, np.float32)), "no finite voxel values"),
    (lambda p: nifti(p, np.zeros((8, 8, 8), np.float32)), "blank scan: every voxel is 0"),
    (lambda p: nifti(p, np.full((8, 8, 8), 7, np.int16)), "blank scan: every voxel is 7"),
    (lambda p: nifti(p, noise()[:, :, :1]), "only one image slice"),
    (lambda p: nifti(p, noise()[:1]), "only one image slice"),
    (lambda p: bare_pixdim(p, 0.0), "invalid voxel size pixdim[1:4] = [0.0, 1.0, 2.0]"),
    (lambda p: bare_pixdim(p, -3.0), "invalid voxel size pixdim[1:4] = [-3.0"),
    (lambda p: bare_pixdim(p, float("nan")), "invalid voxel size"),
    (lambda p: nifti(p, noise(), np.array([[1, 0.99, 0, 0], [0, 0.1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])),
     "voxel axes are nearly parallel"),
    (lambda p: nifti(p, noise(), patch=[(280, "<f", (float("nan"),))]), "non-finite"),  # srow_x[0]
    (lambda p: nifti(p, noise(), patch=[(70, "<h", (9999,))]), "cannot read NIfTI"),  # unknown datatype
    (lambda p: nifti(p, noise(), patch=[(42, "<h", (-5,))]), "invalid image dimensions (-5, 12, 8)"),
    (lambda p: nifti(p, noise(), patch=[(42, "<hhh", (32767, 32767, 32767))]), "exceeds the limit"),
    (lambda p: nifti(p, np.zeros((4, 4, 4), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])), "unsupported voxel type"),
    (lambda p: nifti(p, noise().astype(np.complex64)), "unsupported voxel type"),
    (lambda p: nifti(p, noise()[:, :, 0]), "expected a 3D image"),
]


@pytest.mark.parametrize("maker,text", NIFTI_CASES, ids=[f"{n}-{c[1][:25]}" for n, c in enumerate(NIFTI_CASES)])
def test_bad_nifti_table(tmp_path, capsys, maker, text):
    path = tmp_path / "scan.nii"
    maker(path)
    with pytest.raises(InputError) as err:
        read_nifti(path)
    assert text in str(err.value) and err.value.path == str(path) and "\n" not in str(err.value)
    assert scan_info_main([str(path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_nifti_nan_and_inf_voxels_become_the_lowest_value_with_a_note(tmp_path):
    data = noise()
    data[2:4] = np.nan
    data[0, 0, 0] = np.inf
    vol = read_nifti(nifti(tmp_path / "nan.nii", data))
    assert np.isfinite(vol.array).all() and vol.array.min() == np.nanmin(data[np.isfinite(data)])
    assert any("non-finite voxels (NaN/inf)" in n and str(2 * 12 * 8 + 1) in n for n in vol.meta["notes"])


def test_gzip_bomb_refused_from_the_header(tmp_path, monkeypatch):
    big = np.zeros((200, 200, 250), np.uint8)
    big[0, 0, 0] = 1
    path = tmp_path / "bomb.nii.gz"
    path.write_bytes(gzip.compress(nifti(tmp_path / "x.nii", big).read_bytes(), compresslevel=1))
    assert path.stat().st_size < 2**16  # 10 M voxels in 43 kB
    monkeypatch.setattr(nib.Nifti1Image, "get_fdata", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(InputError, match="bomb.nii.gz: image of 200 x 200 x 250 = 10000000 voxels .* exceeds the limit"):
        read_nifti(path, max_voxels=10**6)
