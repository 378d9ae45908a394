"""run_pipeline.py's output folder and options (issue 13): run.json and --overwrite, --truth pairing,
summary.csv's shape, symlinked scan names, progress wording."""
import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from cascade.pipeline.naming import case_name, unique_names
from cascade.pipeline.run_manifest import MANIFEST_NAME, RunManifest, check_out, clear_out, read_run
from cascade.pipeline.summary import LEADING, summary_table
from cascade.pipeline.truths import match_truths
from data.atomic import LOCK_NAME, write_csv
from data.errors import InputError


def _run_in(out: Path, files: dict[str, str], example: bool = False, status: str = "complete") -> RunManifest:
    """A finished earlier run in ``out`` that wrote ``files`` (path -> text)."""
    for rel, text in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    cases = sorted({rel.split("/")[0] for rel in files if "/" in rel})
    run = RunManifest(["run_pipeline.py"], "bundle", example=example, status=status,
                      cases=[{"case": c, "scan": f"scans/{c}"} for c in cases], folders=cases,
                      files=sorted(files) if status == "complete" else [])
    run.write(out)
    (out / LOCK_NAME).write_text("pid 1\n")
    return run


# --- item 4: the output folder never mixes runs --------------------------------------------------

def test_an_earlier_run_is_refused_without_overwrite(tmp_path):
    out = tmp_path / "out"
    _run_in(out, {"a/landmarks.csv": "x", "b/landmarks.csv": "y", "summary.csv": "s"})
    with pytest.raises(InputError) as err:
        check_out(out, overwrite=False, example=False)
    assert str(err.value) == (f"{out}: holds the output of an earlier run (2 cases); use --overwrite to replace it "
                              "or choose another --out")
    assert sorted(p.name for p in out.iterdir()) == sorted([LOCK_NAME, MANIFEST_NAME, "a", "b", "summary.csv"])


def test_overwrite_deletes_exactly_what_run_json_lists(tmp_path):
    out = tmp_path / "out"
    _run_in(out, {"a/landmarks.csv": "x", "a/qc/S.png": "p", "summary.csv": "s", "index.html": "h"})
    doomed = check_out(out, overwrite=True, example=False)
    assert clear_out(out, doomed) == 5
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # the lock stays, every listed file is gone


@pytest.mark.parametrize("manifest", [True, False])
def test_unknown_files_are_never_deleted(tmp_path, manifest):
    out = tmp_path / "out"
    if manifest:
        _run_in(out, {"a/landmarks.csv": "x", "summary.csv": "s"})
    else:
        (out / "a").mkdir(parents=True)  # an older version's output: no run.json
        (out / "summary.csv").write_text("s")
    (out / "a" / "my_notes.txt").write_text("mine")
    with pytest.raises(InputError) as err:
        check_out(out, overwrite=True, example=False)
    assert err.value.path == str(out / "a" / "my_notes.txt")
    assert (out / "a" / "my_notes.txt").read_text() == "mine" and (out / "summary.csv").exists()


def test_an_unfinished_run_owns_its_case_folders(tmp_path):
    out = tmp_path / "out"
    _run_in(out, {"a/landmarks.csv": "x", "a/.landmarks.fcsv.123.tmp": "partial"}, status="running")
    assert clear_out(out, check_out(out, overwrite=True, example=False)) == 3
    assert not (out / "a").exists()


def test_the_example_replaces_its_own_example_only(tmp_path):
    out = tmp_path / "out"
    _run_in(out, {"inputs/example/dicom/1.dcm": "d", "example/landmarks.csv": "x"}, example=True)
    assert MANIFEST_NAME in check_out(out, overwrite=False, example=True)  # `python run_pipeline.py` twice
    with pytest.raises(InputError, match="earlier run"):
        check_out(out, overwrite=False, example=False)  # real scans into the example's folder: ask first


def test_overwrite_never_deletes_an_input_of_the_new_run(tmp_path):
    out = tmp_path / "out"
    _run_in(out, {"a/landmarks.csv": "x"})
    with pytest.raises(InputError, match="would delete"):
        check_out(out, overwrite=True, example=False, inputs=[out / "a" / "landmarks.csv"])


def test_an_empty_or_missing_out_is_fine_and_untouched(tmp_path):
    assert check_out(tmp_path / "missing", overwrite=False, example=False) == []
    assert not (tmp_path / "missing").exists() and read_run(tmp_path) is None


# --- item 6: --truth, one value, repeatable, CASE=FILE ----------------------------------------

def test_truth_no_longer_swallows_the_scans():
    from cascade.pipeline.cli import parser

    args = parser().parse_args(["--truth", "t.csv", "scan.nii"])
    assert args.scans == [Path("scan.nii")] and args.truth == ["t.csv"]
    assert parser().parse_args(["a", "b", "--truth", "x", "--truth", "y"]).truth == ["x", "y"]


def test_truth_values_pair_in_order_or_by_case():
    scans = [Path("s/one.nii"), Path("p/dicom"), Path("three.nii.gz")]
    names = unique_names(scans)
    assert names == ["one", "p", "three"]
    assert match_truths(["a", "b", "c"], scans, names) == [Path("a"), Path("b"), Path("c")]
    assert match_truths(["p=t.csv"], scans, names) == [None, Path("t.csv"), None]  # by case name
    assert match_truths(["s/one.nii=t.fcsv", "./three.nii.gz=u.csv"], scans, names) == \
        [Path("t.fcsv"), None, Path("u.csv")]  # by the path as given
    assert match_truths(None, scans, names) == [None] * 3


@pytest.mark.parametrize("values,message", [
    (["a", "b"], "a: 2 truth files for 3 scans; give one --truth per scan"),
    (["a"], "a: 1 truth file for 3 scans"),
    (["nope=t.csv"], "nope=t.csv: --truth: no scan named 'nope' (case names: one, p, three)"),
    (["p=t.csv", "p/dicom=u.csv"], "p/dicom=u.csv: --truth: a second truth for scan p/dicom"),
    (["p=t.csv", "a", "b"], "a: --truth: plain files and CASE=FILE pairs mixed"),
])
def test_truth_mismatches_are_one_clear_error(values, message):
    scans = [Path("s/one.nii"), Path("p/dicom"), Path("three.nii.gz")]
    with pytest.raises(InputError) as err:
        match_truths(values, scans, unique_names(scans))
    assert str(err.value).startswith(message)


# --- item 7: a symlinked scan is named after the path given -----------------------------------

def test_symlinked_generic_scan_is_named_after_the_path_given(tmp_path):
    target = tmp_path / "elsewhere" / "x" / "ct"
    target.mkdir(parents=True)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "scan").symlink_to(target)
    assert case_name(tmp_path / "a" / "scan") == "a"
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert case_name(Path("a/scan")) == "a"
    finally:
        os.chdir(cwd)


# --- item 2: summary.csv reads as written ------------------------------------------------------

def test_summary_keeps_integers_and_its_columns_when_a_scan_failed(tmp_path):
    rows = [{"case": "bad", "scan": "b.nii", "error": "b.nii: blank scan"},
            {"case": "good", "scan": "g.nii", "read_s": 0.5, "predict_s": 1.25, "landmarks": 16, "review": 4,
             "outside_scan": np.int64(2), "far_from_bone": 1, "uncertain": 1, "notes": "gantry tilt corrected",
             "phase1_mre_mm": 3.5}]
    path = write_csv(summary_table(rows), tmp_path / "summary.csv")
    text = path.read_text()
    assert text.splitlines()[2].startswith("good,g.nii,,16,4,2,1,1,0.5,1.25,gantry tilt corrected,3.5")
    assert "16.0" not in text
    table = pd.read_csv(path, dtype_backend="numpy_nullable")
    assert list(table.columns) == list(LEADING) + ["phase1_mre_mm"]
    assert str(table["landmarks"].dtype) == "Int64" and table["landmarks"].tolist()[1] == 16
    alone = pd.read_csv(write_csv(summary_table(rows[1:]), tmp_path / "ok.csv"))
    assert list(alone.columns) == list(table.columns) and alone["error"].isna().all()  # same shape, empty error


# --- end to end (demo bundle): run.json, refusal, --overwrite, CASE=FILE, wording ---------------

def _nifti(path: Path) -> Path:
    head = np.random.default_rng(0).normal(size=(24, 24, 12)) * 200
    nib.save(nib.Nifti1Image(head.astype(np.float32), np.diag([1.5, 1.5, 3.0, 1.0])), path)
    return path


def test_run_json_refusal_overwrite_and_partial_truth(tmp_path, capsys):
    from cascade.bundle import DEMO_BUNDLE
    from cascade.pipeline.cli import main
    from data.landmark_io import write_landmarks
    from data.landmarks import LandmarkSet

    a, b = _nifti(tmp_path / "a.nii"), _nifti(tmp_path / "b.nii")
    truth = tmp_path / "truth.csv"
    write_landmarks(truth, LandmarkSet(["S", "N"], [[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]]))
    out = tmp_path / "out"
    demo = ["--models", str(DEMO_BUNDLE), "--out", str(out), "--quiet"]
    assert main([str(a), str(b), "--truth", f"b={truth}", *demo]) == 0  # the truth goes with b only
    err = capsys.readouterr().err
    assert "scans 2/2 (100 %)" in err and "about 0 s" not in err and "1 scans" not in err
    run = json.load(open(out / MANIFEST_NAME))
    assert run["status"] == "complete" and [c["case"] for c in run["cases"]] == ["a", "b"]
    assert run["cases"][0]["truth"] is None and run["cases"][1]["truth"] == str(truth)
    assert {"summary.csv", "a/landmarks.csv", "b/errors.csv"} <= set(run["files"]) and run["version"]
    assert (out / "b" / "errors.csv").exists() and not (out / "a" / "errors.csv").exists()
    summary = pd.read_csv(out / "summary.csv")
    assert summary["phase1_mre_mm"].isna().tolist() == [True, False]

    assert main([str(a), *demo]) == 2  # a second run into the same folder: refused, nothing touched
    assert capsys.readouterr().err.strip() == (f"error: {out}: holds the output of an earlier run (2 cases); "
                                               "use --overwrite to replace it or choose another --out")
    assert (out / "b" / "errors.csv").exists()

    assert main([str(a), *demo, "--overwrite"]) == 0  # replaced: b's folder of the earlier run is gone
    assert sorted(p.name for p in out.iterdir()) == sorted([LOCK_NAME, MANIFEST_NAME, "a", "summary.csv"])
    assert pd.read_csv(out / "summary.csv")["case"].tolist() == ["a"]
    assert "1 scan done, 0 failed" in capsys.readouterr().out
