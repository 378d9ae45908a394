"""Each malformed scan gives one clear line naming the file/folder and the problem, and exit code 2."""
import subprocess
import sys

import numpy as np
import pydicom
import pytest

from data.dicom_read import read_dicom
from data.errors import InputError
from data.scan_info import main as scan_info_main
from tests.conftest import axial_positions, write_field_series

AXIAL = dict(row_dir=[0, 1, 0], col_dir=[1, 0, 0])


def series(folder, n=5, **kw):
    return write_field_series(folder, axial_positions([2.0] * (n - 1)), **AXIAL, **kw)


def make_empty(tmp):
    (tmp / "scan").mkdir()


def make_no_dicom(tmp):
    (tmp / "scan").mkdir()
    (tmp / "scan" / "notes.txt").write_text("hello")
    (tmp / "scan" / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))


def make_mixed_sizes(tmp):
    series(tmp / "scan" / "a", seed="same")
    write_field_series(tmp / "scan" / "b", axial_positions([2.0]) + [0, 0, 20], seed="same", shape_ij=(20, 20), **AXIAL)


def make_truncated_pixels(tmp):
    f = series(tmp / "scan")[2]
    f.write_bytes(f.read_bytes()[:-1000])


def make_truncated_header(tmp):
    f = series(tmp / "scan")[2]
    f.write_bytes(f.read_bytes()[:700])


def make_missing_pixel_data(tmp):
    f = series(tmp / "scan")[1]
    ds = pydicom.dcmread(f)
    del ds.PixelData
    ds.save_as(f)


def make_duplicate_position(tmp):
    write_field_series(tmp / "scan", axial_positions([2.0, 0.0, 2.0]), **AXIAL)


def make_single_slice(tmp):
    f = series(tmp / "scan", n=1)[0]
    ds = pydicom.dcmread(f)
    del ds.SliceThickness
    ds.save_as(f)


def make_missing_slices(tmp):
    write_field_series(tmp / "scan", axial_positions([2.0, 2.0, 2.0, 6.0, 2.0, 2.0]), **AXIAL)


def make_bad_orientation(tmp):
    f = series(tmp / "scan")[0]
    ds = pydicom.dcmread(f)
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1"]
    ds.save_as(f)


def make_only_localizer(tmp):
    f = series(tmp / "scan", n=1)[0]
    ds = pydicom.dcmread(f)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.save_as(f)


CASES = [  # (maker, where the error points, expected text)
    (None, "scan", "no such file or folder"),
    (make_empty, "scan", "folder is empty"),
    (make_no_dicom, "scan", "no DICOM files found (2 other files)"),
    (make_mixed_sizes, "scan", "slices of different sizes in one series: 40x48 in slice_0000.dcm, 20x20"),
    (make_truncated_pixels, "slice_0002.dcm", "cannot decode pixel data"),
    (make_truncated_header, "slice_0002.dcm", "no pixel data (file truncated or incomplete?)"),
    (make_missing_pixel_data, "slice_0001.dcm", "no pixel data"),
    (make_duplicate_position, "scan", "two slices at the same position"),
    (make_single_slice, "scan", "only one image slice"),
    (make_missing_slices, "scan", "gap of 6.00 mm between slice_0003.dcm and slice_0004.dcm"),
    (make_bad_orientation, "slice_0000.dcm", "missing or invalid ImageOrientationPatient"),
    (make_only_localizer, "scan", "no image series found (skipped: 1 localizers)"),
]


@pytest.mark.parametrize("maker,where,text", CASES, ids=[c[2][:30] for c in CASES])
def test_bad_scan_table(tmp_path, capsys, maker, where, text):
    if maker is not None:
        maker(tmp_path)
    with pytest.raises(InputError) as err:
        read_dicom(tmp_path / "scan")
    msg = str(err.value)
    assert "\n" not in msg
    assert text in msg
    assert msg.split(": ", 1)[0].endswith(where)
    assert scan_info_main([str(tmp_path / "scan")]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and text in out.err


def test_cli_exit_codes_for_real(tmp_path):
    make_truncated_pixels(tmp_path)
    bad = subprocess.run([sys.executable, "-m", "data.scan_info", str(tmp_path / "scan")], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and "slice_0002.dcm" in bad.stderr and "Traceback" not in bad.stderr
    good = tmp_path / "good"
    series(good)
    ok = subprocess.run([sys.executable, "-m", "data.scan_info", str(good)], capture_output=True, text=True)
    assert ok.returncode == 0 and "shape       (5, 40, 48)" in ok.stdout


def test_gap_tolerance_is_adjustable(tmp_path):
    make_missing_slices(tmp_path)
    vol = read_dicom(tmp_path / "scan", gap_factor=4.0)
    assert np.isclose(vol.spacing[0] * (vol.shape[0] - 1), 16.0)
