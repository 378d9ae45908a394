"""Property-based fuzzing (hypothesis, seeded and bounded): the DICOM header reader and the landmark readers
give an ``InputError`` or a valid result, never anything else (issue 14)."""
import csv
import io
import json
import tempfile
import unicodedata
from pathlib import Path

import numpy as np
import pydicom
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.dicom_read import read_dicom
from data.errors import InputError
from data.landmark_io import read_landmarks, write_landmarks
from tests.conftest import axial_positions, write_field_series
from tests.data.test_hostile_scans import AXIAL, set_raw

FUZZ = settings(derandomize=True, deadline=None, max_examples=120, database=None,
                suppress_health_check=[HealthCheck.too_slow])

NUMBER_TEXT = st.sampled_from(["0", "-0", "1", "-1", "2.5", "nan", "-inf", "1e400", "1e-320", "abc", "", " ", "1\\2",
                               "1\\2\\3", "0\\0\\0\\0\\0\\0", "1\\0\\0\\0\\1\\0", "-0.9\\0.8", "65536", "3.", ".5e"])
TEXT_TAGS = ["PixelSpacing", "ImageOrientationPatient", "ImagePositionPatient", "RescaleSlope", "RescaleIntercept",
             "SliceThickness", "NumberOfFrames", "GantryDetectorTilt", "ImageType", "Modality", "SOPClassUID",
             "SeriesInstanceUID", "PhotometricInterpretation"]
US_TAGS = ["Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "SamplesPerPixel",
           "PixelPaddingValue"]
EDIT = st.one_of(
    st.tuples(st.sampled_from(TEXT_TAGS), st.one_of(NUMBER_TEXT, st.text(max_size=12),
                                                     st.floats(allow_nan=True).map(repr))),
    st.tuples(st.sampled_from(US_TAGS), st.one_of(st.integers(0, 65535), st.sampled_from([0, 1, 7, 8, 16, 64, 65535]))),
)
FLIPS = st.lists(st.tuples(st.integers(132, 1200), st.integers(0, 255)), max_size=3)


def assert_valid_volume(vol):
    assert vol.array.ndim == 3 and min(vol.shape) >= 2
    assert np.isfinite(vol.array).all() and vol.array.max() > vol.array.min()
    assert np.isfinite(vol.affine).all() and np.all(vol.spacing > 0)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 2), EDIT), min_size=1, max_size=4), flips=FLIPS,
       flip_slice=st.integers(0, 2))
def test_dicom_header_fuzz(edits, flips, flip_slice):
    with tempfile.TemporaryDirectory() as tmp:
        files = write_field_series(Path(tmp) / "scan", axial_positions([2.0, 2.0]), shape_ij=(6, 8), **AXIAL)
        for which, (key, value) in edits:
            set_raw(files[which], **{key: value})
        raw = bytearray(files[flip_slice].read_bytes())
        for offset, byte in flips:
            if offset < len(raw):
                raw[offset] = byte
        files[flip_slice].write_bytes(bytes(raw))
        try:
            vol = read_dicom(Path(tmp) / "scan")
        except InputError as err:
            assert "\n" not in str(err) and str(err).startswith(tmp)
            return
        assert_valid_volume(vol)


def assert_valid_landmarks(lm, tmp):
    assert lm.names and all(isinstance(n, str) and n.strip() for n in lm.names)
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for n in lm.names for c in n)
    finite = lm.coords[np.isfinite(lm.coords)]
    assert np.all(np.abs(finite) <= 1e6) and not np.isinf(lm.coords).any()
    for ext in ("csv", "fcsv", "mrk.json", "json"):  # our own files of it read back
        back = read_landmarks(write_landmarks(Path(tmp) / f"back.{ext}", lm))
        assert back.names == lm.names and np.array_equal(back.present, lm.present)


def csv_line(cells) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(cells)
    return buf.getvalue()


NAME = st.one_of(st.text(min_size=1, max_size=6), st.sampled_from(["S", "=1+1", "@x", "-N", "+1", "'=x", "a,b"]))
NUM = st.one_of(st.floats(allow_nan=False, allow_infinity=False).map(repr), st.integers(-10**7, 10**7).map(str),
                NUMBER_TEXT)
CELL = st.one_of(st.text(max_size=8), NUMBER_TEXT, st.sampled_from(["=1+1", "-12.5", "@x", "yes", "no", '"', "#"]))
CSV_ROW = st.one_of(st.tuples(NAME, NUM, NUM, NUM, st.sampled_from(["yes", "no", "", "maybe"])).map(csv_line),
                    st.lists(CELL, min_size=1, max_size=6).map(",".join))
CSV_TEXT = st.lists(CSV_ROW, max_size=5).map(lambda rows: "\n".join(["name,x,y,z,present"] + rows))
FCSV_ROW = st.one_of(st.tuples(NUM, NUM, NUM, NAME, CELL).map(
    lambda t: csv_line(["1", t[0], t[1], t[2], "0", "0", "0", "1", "1", "1", "0", t[3], t[4], ""])),
    st.lists(CELL, min_size=1, max_size=15).map(",".join))
FCSV_TEXT = st.lists(FCSV_ROW, max_size=4).map(lambda rows: "\n".join(["# CoordinateSystem = LPS"] + rows))
JSON_VALUE = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6)),
                          lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                  st.dictionaries(st.text(max_size=5), inner, max_size=3)), max_leaves=12)
POINT = st.fixed_dictionaries({"name": st.one_of(NAME, JSON_VALUE), "x": st.one_of(st.floats(), JSON_VALUE),
                               "y": st.one_of(st.floats(), st.integers()), "z": st.floats()},
                              optional={"present": JSON_VALUE, "description": JSON_VALUE, "note": JSON_VALUE})
PLAIN_JSON = st.fixed_dictionaries({"landmarks": st.one_of(st.lists(POINT, max_size=4), JSON_VALUE)},
                                   optional={"coordinate_system": JSON_VALUE, "units": JSON_VALUE})
CONTROL_POINT = st.fixed_dictionaries({"label": st.one_of(NAME, JSON_VALUE),
                                       "position": st.one_of(st.lists(st.one_of(st.floats(), st.integers()), min_size=3,
                                                                      max_size=3), JSON_VALUE)},
                                      optional={"positionStatus": st.sampled_from(["defined", "undefined", "x"]),
                                                "description": JSON_VALUE})
MRK_JSON = st.fixed_dictionaries({"markups": st.lists(st.fixed_dictionaries(
    {"type": st.sampled_from(["Fiducial", "Curve"]), "controlPoints": st.one_of(st.lists(CONTROL_POINT, max_size=3),
                                                                                   JSON_VALUE)},
    optional={"coordinateSystem": st.sampled_from(["LPS", "RAS", "0", 7]), "coordinateUnits": JSON_VALUE}), max_size=2)})
LANDMARK_FILES = st.one_of(
    st.tuples(st.just("csv"), CSV_TEXT), st.tuples(st.just("fcsv"), FCSV_TEXT),
    st.tuples(st.just("json"), PLAIN_JSON.map(json.dumps)), st.tuples(st.just("mrk.json"), MRK_JSON.map(json.dumps)),
    st.tuples(st.sampled_from(["csv", "fcsv", "json", "mrk.json"]), st.text(max_size=60)),
)


@settings(FUZZ, max_examples=400)
@given(case=LANDMARK_FILES)
def test_landmark_reader_fuzz(case):
    ext, text = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"points.{ext}"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            lm = read_landmarks(path)
        except InputError as err:
            assert "\n" not in str(err) and err.path == str(path)
            return
        assert_valid_landmarks(lm, tmp)
