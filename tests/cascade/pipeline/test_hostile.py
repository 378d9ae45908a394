"""run_pipeline.py: one failing scan, whatever the exception, is reported and skipped; the rest is written
(issue 14, items 1, 6, 8)."""
import json
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

import data.load
from cascade.pipeline import cli as run_pipeline
from cascade.bundle import DEMO_BUNDLE


def nifti(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data.astype(np.float32), np.diag([1.5, 1.5, 3.0, 1.0])), path)
    return path


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    d = tmp_path_factory.mktemp("scans")
    head = np.random.default_rng(0).normal(size=(24, 24, 12)) * 200
    nan = head.copy()
    nan[:, :, :3] = np.nan
    return {"good": nifti(d / "good.nii", head), "nan": nifti(d / "a$b$c.nii", nan),
            "blank": nifti(d / "blank.nii", np.zeros((8, 8, 8))), "boom": nifti(d / "boom.nii", head)}


def pipeline(*args):
    """run_pipeline in this process (``--workers 1``: the tests' monkeypatches must reach the scans,
    whatever the cores), on the demo bundle unless told otherwise."""
    args = [str(a) for a in args] + ["--workers", "1"]
    return run_pipeline.main(args + ([] if "--models" in args else ["--models", str(DEMO_BUNDLE)]))


def errors(capsys):
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error: ")]


def test_a_failing_scan_never_stops_the_batch(tmp_path, scans, monkeypatch, capsys):
    real = data.load.load_volume

    def load(path, *args, **kwargs):  # an unexpected bug while reading one scan
        if str(path).endswith("boom.nii"):
            raise RuntimeError("reader bug\nsecond line")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(data.load, "load_volume", load)
    out = tmp_path / "out"
    rc = pipeline(*[scans[k] for k in ("boom", "good", "blank", "nan")], "--out", out, "--quiet", "--qc")
    assert rc == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 2
    assert lines[0] == f"error: {scans['boom']}: failed: unexpected RuntimeError: reader bug second line"
    assert lines[1] == f"error: {scans['blank']}: blank scan: every voxel is 0"
    summary = pd.read_csv(out / "summary.csv")
    assert summary["case"].tolist() == ["boom", "good", "blank", "a_b_c"]
    assert summary["error"].isna().tolist() == [False, True, False, True]
    assert "non-finite voxels" in summary.loc[3, "notes"]  # NaN voxels: filled, noted, predicted
    for case in ("good", "a_b_c"):
        assert len(pd.read_csv(out / case / "landmarks.csv")) == 16 and (out / case / "qc_overview.png").exists()
    assert not (out / "boom").exists() and not (out / "blank").exists()
    index = (out / "index.html").read_text()
    assert "a_b_c" in index
    # issue 13: the reader's notes reach the console (with that scan's progress lines) and the QC index
    note = summary.loc[3, "notes"]
    scan_lines = err.split(f"] {scans['nan']}", 1)[1].splitlines()
    assert f"    note: {note}" in scan_lines[:4]
    assert "Reader notes:" in index and note in index
    # summary.csv: the failed scans' counts are empty cells, the others stay integers
    assert "16.0" not in (out / "summary.csv").read_text()
    assert pd.read_csv(out / "summary.csv", dtype_backend="numpy_nullable")["landmarks"].dtype == "Int64"


@pytest.mark.parametrize("breakage,expected", [
    ("no config", "/bundle.json: bundle settings do not match version 3: 'config'"),
    ("corrupt model", ": cannot load model bundle: unexpected ValueError"),
    ("list manifest", "/bundle.json: bundle version None, this software reads versions 1, 2, 3"),
])
def test_broken_bundle_is_one_line(tmp_path, scans, capsys, breakage, expected):
    bundle = tmp_path / "bundle"
    shutil.copytree(DEMO_BUNDLE, bundle, ignore=shutil.ignore_patterns("logs", "checkpoints"))
    info = json.loads((bundle / "bundle.json").read_text())
    if breakage == "no config":
        (bundle / "bundle.json").write_text(json.dumps({k: v for k, v in info.items() if k != "config"}))
    elif breakage == "corrupt model":
        (bundle / "phase2.keras").write_bytes((bundle / "phase2.keras").read_bytes()[:4000])
    else:
        (bundle / "bundle.json").write_text("[]")
    out = tmp_path / "out"
    assert pipeline(scans["good"], "--models", bundle, "--out", out, "--quiet") == 2
    lines = errors(capsys)
    assert len(lines) == 1 and lines[0].startswith(f"error: {bundle}{expected}")
    assert not out.exists()


def test_out_that_is_a_file_is_one_line(tmp_path, scans, capsys):
    (tmp_path / "file").write_text("x")
    assert pipeline(scans["good"], "--out", tmp_path / "file" / "sub", "--quiet") == 2
    assert errors(capsys) == [f"error: {tmp_path / 'file' / 'sub'}: cannot write the output folder: Not a directory"]


def test_full_disk_while_writing_the_summary_is_one_line(tmp_path, scans, monkeypatch, capsys):
    import errno

    real = run_pipeline.write_csv

    def write_csv(table, path):
        if path.name == "summary.csv":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(table, path)

    monkeypatch.setattr(run_pipeline, "write_csv", write_csv)
    out = tmp_path / "out"
    assert pipeline(scans["good"], "--out", out, "--quiet") == 2
    assert errors(capsys) == [f"error: {out / 'summary.csv'}: cannot write output: No space left on device"]
    assert not (out / "summary.csv").exists()
