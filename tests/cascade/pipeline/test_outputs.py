"""Outputs under hostile names and conditions; manifests that would train on the wrong data (issue 14, items 4, 6, 9)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from data.atomic import atomic_open, atomic_path, folder_lock, safe_name
from data.errors import InputError, as_input_error, boundary
from data.manifest import read_manifest
from cascade.pipeline.naming import RESERVED, case_name, unique_names

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_files_honour_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        with atomic_open(tmp_path / "a.txt") as fh:
            fh.write("x")
        with atomic_path(tmp_path / "b.csv") as tmp:
            tmp.write_text("y")
        with open(tmp_path / "plain.txt", "w") as fh:
            fh.write("z")
    finally:
        os.umask(old)
    want = 0o666 & ~umask
    assert [(tmp_path / n).stat().st_mode & 0o777 for n in ("a.txt", "b.csv", "plain.txt")] == [want] * 3


@pytest.mark.parametrize("scan,name", [
    ("...nii.gz", "scan"), (".nii.gz", "scan"), ("..", "scan"), ("a/..nii", "scan"), ("CON.nii", "case_CON"),
    ("nul.dcm", "case_nul"), ("summary.csv", "case_summary.csv"), ("index.html", "case_index.html"),
    ("inputs", "case_inputs"), ("$HOME;rm -rf.nii", "_HOME_rm_-rf"), ("-x.nii", "x"), ("a\nb.nii", "a_b"),
    ("case_7/dicom", "case_7"), ("scan.nii.gz", "scan"), ("é.nii", "é"),
])
def test_case_folder_names_are_plain_and_stay_inside_out(tmp_path, scan, name):
    got = case_name(Path(scan))
    assert got == name
    assert (tmp_path / got).resolve().parent == tmp_path.resolve() and got.lower() not in {r.lower() for r in RESERVED}


def test_case_names_never_collide():
    paths = [Path(p) for p in ("x/a.nii", "y/a.nii", "z/a-2.nii", "w/A.nii", "a-2-2.nii", "...nii.gz", ".nii.gz")]
    names = unique_names(paths)
    assert names == ["a", "a-2", "a-2-2", "A-3", "a-2-2-2", "scan", "scan-2"]
    assert len({n.lower() for n in names}) == len(names)


def test_safe_name_is_never_empty_or_a_path():
    for text in ("", ".", "..", "/", "../../etc", "a/b\\c", "\x00", " . "):
        name = safe_name(text)
        assert name and "/" not in name and "\\" not in name and name not in (".", "..")


def test_a_second_run_on_one_out_is_refused(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", f"import sys, time; sys.path.insert(0, {str(ROOT)!r})\n"
                               f"from data.atomic import folder_lock\nwith folder_lock({str(out)!r}):\n"
                               "    print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(InputError, match=r"out: output folder in use by another run \(pid \d+\)"):
            with folder_lock(out):
                pass
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(out):  # free again once that process is gone
        pass


def test_out_that_is_a_file_is_one_clear_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="f: cannot write the output folder"):
        with folder_lock(tmp_path / "f"):
            pass


@pytest.mark.parametrize("rows,expected", [
    ("a,,{lm}\nb,{scan},{lm}\n", "line 2 (case 'a'): empty image cell"),
    ("a,   ,{lm}\n", "line 2 (case 'a'): empty image cell"),
    ("a,{scan},\n", "line 2 (case 'a'): empty landmarks cell"),
    (",{scan},{lm}\n", "line 2 (case ''): empty case_id cell"),
    ("a,{scan},{lm}\nb,{scan},{lm}\n", "is listed under several case ids ('a', 'b')"),
    ("a,scan.nii,{lm}\nb,./sub/../scan.nii,{lm}\n", "is listed under several case ids ('a', 'b')"),
])
def test_manifest_validation(tmp_path, monkeypatch, rows, expected):
    monkeypatch.chdir(tmp_path)  # an empty cell used to resolve to the working folder
    (tmp_path / "scan.nii").write_bytes(b"")
    (tmp_path / "lm.csv").write_text("name,x,y,z\nA,1,2,3\n")
    path = tmp_path / "m.csv"
    path.write_text("case_id,image,landmarks\n" + rows.format(scan=tmp_path / "scan.nii", lm=tmp_path / "lm.csv"))
    with pytest.raises(InputError) as err:
        read_manifest(path)
    assert expected in str(err.value) and err.value.path == str(path)


def test_evaluation_manifests_may_share_a_scan(tmp_path):
    (tmp_path / "m.csv").write_text("case_id,image,landmarks\na,s.nii,a.csv\nb,s.nii,b.csv\n")
    assert read_manifest(tmp_path / "m.csv", require_scan=False)["case_id"].tolist() == ["a", "b"]


def test_boundary_turns_any_exception_into_one_line():
    with pytest.raises(InputError) as err:
        with boundary("scan.nii"):
            raise ValueError("cannot convert float NaN\nto integer")
    assert str(err.value) == "scan.nii: cannot read: unexpected ValueError: cannot convert float NaN to integer"
    assert isinstance(err.value.__cause__, ValueError)
    assert str(as_input_error("out", PermissionError(13, "Permission denied", "out/x.csv"))) == \
        "out/x.csv: cannot read: Permission denied"
    with pytest.raises(KeyboardInterrupt):
        with boundary("x"):
            raise KeyboardInterrupt
