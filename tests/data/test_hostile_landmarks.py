"""Hostile landmark files and hostile names in our own outputs (issue 14, items 8 and 9)."""
import csv

import numpy as np
import pandas as pd
import pytest

from data.atomic import neutralise_cell, restore_cell, write_csv
from data.errors import InputError
from data.landmark_io import read_landmarks, write_landmarks
from data.landmarks import LandmarkSet

POINT = '"x": 1, "y": 2, "z": 3'
BAD = [  # (file name, content, expected text)
    ("newline.csv", 'name,x,y,z\n"A\nB",1,2,3\n', "contains control character '\\n'"),
    ("nul.csv", "name,x,y,z\nA\x00,1,2,3\n", "contains control character '\\x00'"),
    ("bidi.csv", "name,x,y,z\nA\u202eB,1,2,3\n", "contains control character '\\u202e'"),
    ("escape.fcsv", "# CoordinateSystem = LPS\n1,1,2,3,0,0,0,1,1,1,0,A\x1b[2JB,,\n", "control character '\\x1b'"),
    ("nl.json", '{"landmarks": [{"name": "A\\nB", ' + POINT + "}]}", "control character '\\n'"),
    ("surrogate.json", '{"landmarks": [{"name": "A\\ud800", ' + POINT + "}]}", "control character '\\ud800'"),
    ("bell.mrk.json", '{"markups": [{"type": "Fiducial", "controlPoints": [{"label": "A\\u0007", "position": [1, 2, 3]}]}]}',
     "control character '\\x07'"),
    ("huge.csv", "name,x,y,z\nA,1e308,2,3\n", "out of range"),
    ("digits.csv", "name,x,y,z\nA," + "9" * 400 + ",2,3\n", "'9999999999999999999999999999999999999999' is infinite"),
    ("bigint.json", '{"landmarks": [{"name": "A", "x": ' + "9" * 400 + ', "y": 2, "z": 3}]}', "is not a number"),
    ("bigint5000.json", '{"landmarks": [{"name": "A", "x": ' + "9" * 5000 + ', "y": 2, "z": 3}]}', "invalid JSON"),
    ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("deep_inside.json", '{"landmarks": ' + "[" * 50_000 + "]" * 50_000 + "}", "nested too deeply"),
    ("far.mrk.json", '{"markups": [{"type": "Fiducial", "controlPoints": [{"label": "A", "position": [1e307, 2, 3]}]}]}',
     "out of range"),
]


@pytest.mark.parametrize("name,text,expected", BAD, ids=[b[0] for b in BAD])
def test_hostile_landmark_file_is_one_clear_error(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    with pytest.raises(InputError) as err:
        read_landmarks(path)
    assert expected in str(err.value) and err.value.path == str(path) and "\n" not in str(err.value)


def test_control_characters_in_descriptions_and_extra_text_become_spaces(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"landmarks": [{"name": "A", ' + POINT + ', "description": "x\\ny", "note": "p\\u2028q"}]}')
    lm = read_landmarks(path)
    assert lm.descriptions == ["x y"] and lm.extra["note"] == ["p q"]
    for ext in ("csv", "fcsv", "mrk.json", "json"):  # and our own files read back
        assert read_landmarks(write_landmarks(tmp_path / f"b.{ext}", lm)).descriptions == ["x y"]


@pytest.mark.parametrize("cell,written", [
    ("=HYPERLINK(1)", "'=HYPERLINK(1)"), ("+cmd", "'+cmd"), ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("@SUM(1)", "'@SUM(1)"), ("\tx", "'\tx"), ("-12.5", "-12.5"), ("+3", "+3"), ("-1e-05", "-1e-05"),
    ("-inf", "-inf"), ("S", "S"), ("", ""), (-12.5, -12.5), ("-nan", "'-nan"), ("'=x", "''=x"), ("'a", "'a"),
])
def test_formula_cells_are_neutralised_numbers_are_kept(cell, written):
    assert neutralise_cell(cell) == written
    if isinstance(cell, str):
        assert restore_cell(written) == cell


def test_landmark_csv_neutralises_formula_names_and_reads_them_back(tmp_path):
    lm = LandmarkSet(["=cmd|' /C calc'!A0", "@SUM(A1)", "N"], np.array([[-12.5, 3, -0.25], [1, 2, 3], [4, 5, 6]]),
                     descriptions=["+danger", "", "-7"])
    for ext in ("csv", "fcsv"):
        path = write_landmarks(tmp_path / f"p.{ext}", lm)
        cells = [c for row in csv.reader(line for line in path.read_text().splitlines() if not line.startswith("#"))
                 for c in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "@") or (c.startswith("-") and neutralise_cell(c) != c)], cells
        assert "-12.5" in cells and "-0.25" in cells and "-7" in cells  # numbers stay numbers
        back = read_landmarks(path)
        assert back.names == lm.names and back.descriptions == lm.descriptions
        assert np.allclose(back.coords, lm.coords)


def test_write_csv_neutralises_text_keeps_numbers(tmp_path):
    path = write_csv(pd.DataFrame({"case": ["=1+1", "a"], "x": [-12.5, 3.0], "note": ["-x", "-4"]}), tmp_path / "s.csv")
    back = pd.read_csv(path)
    assert back["case"].tolist() == ["'=1+1", "a"] and back["x"].tolist() == [-12.5, 3.0]
    assert back["note"].tolist() == ["'-x", "-4"]
