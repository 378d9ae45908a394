"""Landmark files: round trips per format, Slicer conventions, and malformed files."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from data.errors import InputError
from data.landmark_io import ABSENT_MARKER, read_landmarks, write_landmarks
from data.landmarks import LandmarkSet

FORMATS = ["csv", "fcsv", "mrk.json", "json"]


def awkward_set() -> LandmarkSet:
    """Names/descriptions with commas, quotes and unicode; full-precision floats; absent points."""
    names = ["S", "Po, right", 'say "hi"', "Ørbitale ü 中", "gone_nan", "gone_guess"]
    coords = np.array([
        [0.1 + 0.2, -1e-17, 123456.789012345678],
        [-71.123456789012345, 2 / 3, -0.0],
        [1e5 / 7, -3.3, 5e-300],
        [np.pi, -np.e, 42.0],
        [np.nan, np.nan, np.nan],
        [10.5, -20.25, 30.125],
    ])
    present = [True, True, True, True, False, False]
    descriptions = ["", "with, comma", 'quote " inside', "ünïcode ✓", "", "was here"]
    extra = {"rater": ["a", "b,c", '"q"', "ü", "", "x"], "note": ["1", "", "two words", "3.5", "", "z"]}
    return LandmarkSet(names, coords, present, descriptions, extra)


def assert_identical(a: LandmarkSet, b: LandmarkSet) -> None:
    assert a.names == b.names
    np.testing.assert_array_equal(a.present, b.present)
    np.testing.assert_array_equal(a.coords, b.coords)  # exact, NaN where NaN
    assert a.descriptions == b.descriptions
    assert a.extra == b.extra


@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip_is_identity(tmp_path: Path, ext: str) -> None:
    lm = awkward_set()
    out = write_landmarks(tmp_path / f"set.{ext}", lm, description="test set, v1")
    assert out == tmp_path / f"set.{ext}"
    assert_identical(read_landmarks(out), lm)
    assert [p.name for p in tmp_path.iterdir()] == [f"set.{ext}"]  # no temp file left behind


@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip_overwrites_and_minimal_set(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"a.{ext}"
    write_landmarks(path, awkward_set())
    small = LandmarkSet(["A"], [[1.0, 2.0, 3.0]])
    write_landmarks(path, small)
    assert_identical(read_landmarks(path), small)


@pytest.mark.parametrize("ext", ["json", "mrk.json"])
def test_json_keeps_extra_types(tmp_path: Path, ext: str) -> None:
    lm = LandmarkSet(["A", "B"], [[1, 2, 3], [4, 5, 6]],
                     extra={"score": [0.1 + 0.2, np.float32(0.5)], "n": [np.int64(3), None], "ok": [True, False]})
    back = read_landmarks(write_landmarks(tmp_path / f"t.{ext}", lm))
    assert back.extra == {"score": [0.1 + 0.2, 0.5], "n": [3, None], "ok": [True, False]}


def test_plain_json_layout_and_nan_as_null(tmp_path: Path) -> None:
    lm = LandmarkSet(["A", "B"], [[1.5, 2, 3], [np.nan] * 3], [True, False])
    text = write_landmarks(tmp_path / "t.json", lm).read_text()
    assert "NaN" not in text
    doc = json.loads(text)
    assert doc["coordinate_system"] == "LPS" and doc["units"] == "mm"
    assert doc["landmarks"][0] == {"name": "A", "x": 1.5, "y": 2.0, "z": 3.0, "present": True, "description": ""}
    assert doc["landmarks"][1]["x"] is None and doc["landmarks"][1]["present"] is False


def test_mrk_json_layout(tmp_path: Path) -> None:
    lm = LandmarkSet(["A", "B", "C"], [[1, 2, 3], [np.nan] * 3, [7, 8, 9]], [True, False, False])
    doc = json.loads(write_landmarks(tmp_path / "t.mrk.json", lm).read_text())
    assert doc["@schema"].endswith("markups-schema-v1.0.3.json#")
    markup = doc["markups"][0]
    assert (markup["type"], markup["coordinateSystem"], markup["coordinateUnits"]) == ("Fiducial", "LPS", "mm")
    a, b, c = markup["controlPoints"]
    assert a["label"] == "A" and a["position"] == [1, 2, 3] and a["positionStatus"] == "defined"
    assert "position" not in b and b["positionStatus"] == "undefined"
    assert c["position"] == [7, 8, 9] and c["positionStatus"] == "undefined"


def test_mrk_json_ras_and_undefined_read(tmp_path: Path) -> None:
    doc = {"@schema": "x", "markups": [
        {"type": "Line", "controlPoints": []},
        {"type": "Fiducial", "coordinateSystem": "RAS", "controlPoints": [
            {"label": "P", "position": [1.0, -2.0, 3.0], "description": "d"},
            {"label": "Q", "position": [4.0, 5.0, 6.0], "positionStatus": "undefined"},
            {"label": "R"},
        ]}]}
    path = tmp_path / "s.mrk.json"
    path.write_text(json.dumps(doc))
    lm = read_landmarks(path)
    assert lm.names == ["P", "Q", "R"] and lm.descriptions == ["d", "", ""]
    np.testing.assert_array_equal(lm["P"], [-1.0, 2.0, 3.0])
    np.testing.assert_array_equal(lm.present, [True, False, False])
    assert np.isnan(lm["R"]).all()


FCSV_HEAD = "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n"
FCSV_ROW = ("vtkMRMLMarkupsFiducialNode_1,1.5,-2.25,3.125,0,0,0,1,1,1,0,AC,anterior commissure,"
            "vtkMRMLScalarVolumeNode1\n")


@pytest.mark.parametrize("system, expected", [
    ("# CoordinateSystem = 0\n", [-1.5, 2.25, 3.125]),     # Slicer 4.x RAS
    ("# CoordinateSystem = RAS\n", [-1.5, 2.25, 3.125]),
    ("", [-1.5, 2.25, 3.125]),                             # no header line: Slicer's default RAS
    ("# CoordinateSystem = 1\n", [1.5, -2.25, 3.125]),
    ("# CoordinateSystem = LPS\n", [1.5, -2.25, 3.125]),
])
def test_fcsv_coordinate_system_by_hand(tmp_path: Path, system: str, expected: list[float]) -> None:
    path = tmp_path / "one.fcsv"
    path.write_text("# Markups fiducial file version = 4.6\n" + system + FCSV_HEAD + FCSV_ROW)
    lm = read_landmarks(path)
    assert lm.names == ["AC"] and lm.descriptions == ["anterior commissure"] and lm.present.all()
    np.testing.assert_array_equal(lm["AC"], expected)


def test_fcsv_quoted_fields_crlf_and_column_order(tmp_path: Path) -> None:
    path = tmp_path / "q.fcsv"
    text = ("# CoordinateSystem = LPS\r\n# columns = label,desc,x,y,z,vis\r\n"
            '"Po, right","say ""hi"", twice",1,2,3,1\r\n'
            "N,,4,5,6,0\r\n")  # vis=0 alone is a hidden point, still present
    path.write_bytes(text.encode())
    lm = read_landmarks(path)
    assert lm.names == ["Po, right", "N"]
    assert lm.descriptions == ['say "hi", twice', ""]
    np.testing.assert_array_equal(lm.coords, [[1, 2, 3], [4, 5, 6]])
    assert lm.present.all()


def test_fcsv_absent_convention_on_disk(tmp_path: Path) -> None:
    lm = LandmarkSet(["A", "B", "C"], [[1, 2, 3], [4, 5, 6], [np.nan] * 3], [True, False, False],
                     ["", "guess", ""])
    path = write_landmarks(tmp_path / "a.fcsv", lm)
    lines = path.read_text().splitlines()
    assert lines[:2] == ["# Markups fiducial file version = 4.11", "# CoordinateSystem = LPS"]
    rows = list(csv.reader(line for line in lines if not line.startswith("#")))
    assert [(r[8], r[11], r[12]) for r in rows] == [
        ("1", "A", ""), ("0", "B", f"{ABSENT_MARKER} guess"), ("0", "C", ABSENT_MARKER)]
    assert rows[1][1:4] == ["4.0", "5.0", "6.0"] and rows[2][1:4] == ["", "", ""]
    back = read_landmarks(path)
    np.testing.assert_array_equal(back.present, [True, False, False])
    assert back.descriptions == ["", "guess", ""]


def test_csv_variants(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("label,x,y,z,present,desc,site\n"
                    "A,1,2,3,YES,first,x\nB,4,5,6,No,,y\nC,7,8,9,true,,z\nD,,,,0,,w\nE,1,1,1,FALSE,,v\nF,2,2,2,1,,u\n")
    lm = read_landmarks(path)
    assert lm.names == list("ABCDEF")
    np.testing.assert_array_equal(lm.present, [True, False, True, False, False, True])
    assert lm.descriptions[0] == "first" and lm.extra == {"site": list("xyzwvu")}
    assert np.isnan(lm["D"]).all()


def test_csv_without_present_column_uses_finite_coords(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("name,x,y,z\nA,1,2,3\nB,,,\n")
    np.testing.assert_array_equal(read_landmarks(path).present, [True, False])


def test_csv_written_layout(tmp_path: Path) -> None:
    lm = LandmarkSet(["A", "B"], [[0.1 + 0.2, 2, 3], [np.nan] * 3], [True, False], extra={"k": ["u", "v"]})
    lines = write_landmarks(tmp_path / "w.csv", lm).read_text().splitlines()
    assert lines == ["name,x,y,z,present,k", "A,0.30000000000000004,2.0,3.0,yes,u", "B,,,,no,v"]


@pytest.mark.parametrize("ext, key", [("csv", "X"), ("fcsv", "label"), ("mrk.json", "position"), ("json", "present")])
def test_extra_column_clashing_with_format_is_refused(tmp_path: Path, ext: str, key: str) -> None:
    with pytest.raises(ValueError, match="clash"):
        write_landmarks(tmp_path / f"c.{ext}", LandmarkSet(["A"], [[1, 2, 3]], extra={key: [1]}))
    assert not list(tmp_path.iterdir())


def test_mrk_json_micrometre_units(tmp_path: Path) -> None:
    path = tmp_path / "um.mrk.json"
    path.write_text(MRK.format('"coordinateUnits": ["um", "UCUM", "micrometer"], '
                               '"controlPoints": [{"label": "A", "position": [1000, -2500, 0]}]'))
    np.testing.assert_allclose(read_landmarks(path)["A"], [1.0, -2.5, 0.0])


def test_unknown_ending_on_write(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown landmark file type"):
        write_landmarks(tmp_path / "x.txt", LandmarkSet(["A"], [[1, 2, 3]]))


FCSV_OK = "# CoordinateSystem = LPS\n" + FCSV_HEAD
MRK = '{{"@schema": "s", "markups": [{{"type": "Fiducial", {}}}]}}'
MALFORMED = [
    ("empty.csv", "", "empty"),
    ("blank.csv", "\n  \n", "empty"),
    ("nocol.csv", "name,x,y\nA,1,2\n", "missing column(s) z"),
    ("noname.csv", "id,x,y,z\nA,1,2,3\n", "missing column(s) label"),
    ("nan.csv", "name,x,y,z\nA,1,2,3\nB,1,abc,3\n", "line 3: y coordinate 'abc' is not a number"),
    ("inf.csv", "name,x,y,z\nA,1,inf,3\n", "infinite"),
    ("dup.csv", "name,x,y,z\nA,1,2,3\nA,4,5,6\n", "line 3: duplicate landmark name 'A' (first at line 2)"),
    ("dupcol.csv", "name,x,y,z,X\nA,1,2,3,4\n", "duplicate columns x"),
    ("fields.csv", "name,x,y,z\nA,1,2\n", "line 2: 3 fields, header has 4"),
    ("flag.csv", "name,x,y,z,present\nA,1,2,3,maybe\n", "present value 'maybe'"),
    ("nocoord.csv", "name,x,y,z,present\nA,,,,yes\n", "marked present but lacks coordinates"),
    ("header_only.csv", "name,x,y,z\n", "no landmarks"),
    ("noname_row.csv", "name,x,y,z\n,1,2,3\n", "line 2: missing landmark name"),
    ("notes.txt", "name,x,y,z\nA,1,2,3\n", "unknown landmark file type"),
    ("cs.fcsv", "# CoordinateSystem = IJK\n" + FCSV_HEAD + FCSV_ROW, "unknown coordinate system 'IJK'"),
    ("num.fcsv", FCSV_OK + FCSV_ROW.replace("1.5", "1.5x"), "line 3: x coordinate '1.5x' is not a number"),
    ("dup.fcsv", FCSV_OK + FCSV_ROW + FCSV_ROW, "line 4: duplicate landmark name 'AC'"),
    ("short.fcsv", FCSV_OK + "1,2,3,4,AC\n", "line 3: 5 fields, columns header has 14"),
    ("nolabel.fcsv", "# columns = id,x,y,z\n1,2,3,4\n", "columns header lacks label"),
    ("headers_only.fcsv", FCSV_OK, "no landmarks"),
    ("bad.json", '{"landmarks": [', "invalid JSON at line 1"),
    ("list.json", "[1, 2]", "top level must be a JSON object"),
    ("nolm.json", '{"units": "mm"}', "'landmarks' must be a JSON array"),
    ("str.json", '{"landmarks": [{"name": "A", "x": "one", "y": 2, "z": 3}]}', "landmark 1: x coordinate 'one'"),
    ("cs.json", '{"coordinate_system": "IJK", "landmarks": []}', "unknown coordinate system 'IJK'"),
    ("units.json", '{"units": "cm", "landmarks": []}', "unsupported coordinate units 'cm'"),
    ("dup.json", '{"landmarks": [{"name": "A", "x": 1, "y": 2, "z": 3}, {"name": "A"}]}', "duplicate landmark name"),
    ("numname.json", '{"landmarks": [{"name": 7, "x": 1, "y": 2, "z": 3}]}', "landmark name must be text"),
    ("bad.mrk.json", "{", "invalid JSON"),
    ("line.mrk.json", '{"markups": [{"type": "Line", "controlPoints": []}]}', "found 0"),
    ("pos.mrk.json", MRK.format('"controlPoints": [{"label": "A", "position": [1, 2]}]'),
     "control point 1: position must be a list of 3 numbers"),
    ("cs.mrk.json", MRK.format('"coordinateSystem": "XYZ", "controlPoints": []'), "unknown coordinate system 'XYZ'"),
    ("status.mrk.json", MRK.format('"controlPoints": [{"label": "A", "positionStatus": "maybe"}]'),
     "unknown positionStatus"),
    ("dup.mrk.json", MRK.format('"controlPoints": [{"label": "A", "position": [1, 2, 3]}, {"label": "A"}]'),
     "control point 2: duplicate landmark name 'A'"),
]


@pytest.mark.parametrize("name, content, problem", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_file_raises_input_error(tmp_path: Path, name: str, content: str, problem: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_landmarks(path)
    message = str(info.value)
    assert name in message and problem in message
    assert "\n" not in message


@pytest.mark.parametrize("make, problem", [
    (lambda p: None, "file not found"),
    (lambda p: p.mkdir(), "not a file"),
    (lambda p: p.write_bytes(b"name,x,y,z\n\xff\xfe,1,2,3\n"), "not UTF-8"),
])
def test_unreadable_files(tmp_path: Path, make, problem: str) -> None:
    path = tmp_path / "lm.csv"
    make(path)
    with pytest.raises(InputError, match=problem) as info:
        read_landmarks(path)
    assert str(info.value).startswith(str(path) + ": ")


def state_set() -> LandmarkSet:
    """A prediction-like set: one ok point, one outside the scan, one far from bone, one absent."""
    extra = {"inside": ["yes", "no", "yes", "no"], "state": ["ok", "outside_scan", "far_from_bone", "absent"],
             "note": ["", "1.5 mm below the first slice", "12 mm from the nearest bone (threshold 10 mm)",
                      "no estimate"]}
    return LandmarkSet(["A", "B", "C", "D"], [[1, 2, 3], [4, 5, -60.5], [7, 8, 9], [np.nan] * 3],
                       [True, True, True, False], ["", "", "own text", ""], extra)


@pytest.mark.parametrize("ext", FORMATS)
def test_states_round_trip_in_every_format(tmp_path: Path, ext: str) -> None:
    lm = state_set()
    assert_identical(read_landmarks(write_landmarks(tmp_path / f"s.{ext}", lm, description="d")), lm)


def test_slicer_files_place_flagged_points_unselected(tmp_path: Path) -> None:
    lm = state_set()
    doc = json.loads(write_landmarks(tmp_path / "s.mrk.json", lm).read_text())
    a, b, c, d = doc["markups"][0]["controlPoints"]
    assert (a["positionStatus"], a["visibility"], a["selected"], a["description"]) == ("defined", True, True, "")
    assert (b["positionStatus"], b["visibility"], b["selected"], b["locked"]) == ("defined", True, False, False)
    assert b["description"] == "outside_scan: 1.5 mm below the first slice" and b["inside"] is False
    assert c["description"] == "far_from_bone: 12 mm from the nearest bone (threshold 10 mm); own text"
    assert (d["positionStatus"], d["visibility"]) == ("undefined", False)
    fcsv = write_landmarks(tmp_path / "s.fcsv", lm)
    rows = list(csv.reader(line for line in fcsv.read_text().splitlines() if not line.startswith("#")))
    cols = FCSV_HEAD[len("# columns = "):].strip().split(",")
    got = [dict(zip(cols + ["inside", "state", "note"], r)) for r in rows]
    assert [(r["vis"], r["sel"], r["lock"]) for r in got] == [("1", "1", "0"), ("1", "0", "0"), ("1", "0", "0"),
                                                              ("0", "0", "0")]
    assert got[1]["desc"] == "outside_scan: 1.5 mm below the first slice"
    assert got[3]["desc"].startswith(ABSENT_MARKER)


def test_plain_json_flags_are_booleans(tmp_path: Path) -> None:
    doc = json.loads(write_landmarks(tmp_path / "s.json", state_set()).read_text())
    assert [p["present"] for p in doc["landmarks"]] == [True, True, True, False]
    assert [p["inside"] for p in doc["landmarks"]] == [True, False, True, False]
    assert doc["landmarks"][1]["state"] == "outside_scan"


def test_csv_has_no_comment_line_and_reads_old_files(tmp_path: Path) -> None:
    import pandas as pd

    path = write_landmarks(tmp_path / "t.csv", LandmarkSet(["A"], [[1.5, 2, 3]]), description="a note")
    assert not path.read_text().startswith("#")
    assert list(pd.read_csv(path).columns) == ["name", "x", "y", "z", "present"]
    path.write_text("# description = old file\nname,x,y,z,present\nA,1.5,2,3,yes\n")  # written before
    assert read_landmarks(path).equals(LandmarkSet(["A"], [[1.5, 2, 3]]))


def test_rounded_changes_coordinates_by_at_most_half_the_last_decimal() -> None:
    rng = np.random.default_rng(0)
    coords = rng.uniform(-300, 300, (200, 3))
    lm = LandmarkSet([f"L{n}" for n in range(200)], coords, extra={"phase1_x": list(coords[:, 0]), "t": ["a"] * 200,
                                                                    "f": [True] * 200})
    r = lm.rounded(4)
    assert np.abs(r.coords - coords).max() <= 0.5e-4 + 1e-12
    assert all(len(repr(float(v)).split(".")[1]) <= 4 for v in r.coords.ravel())
    assert r.extra["phase1_x"] == [round(v, 4) for v in coords[:, 0]] and r.extra["t"] == lm.extra["t"]
    assert r.extra["f"] == [True] * 200
