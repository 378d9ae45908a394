"""Smoke runs of the accuracy benchmarks (tiny settings): they complete and write their files."""
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args: str) -> str:
    res = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--quick", *args], capture_output=True,
                         text=True, cwd=ROOT, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def test_phantom_benchmark_quick(tmp_path):
    out = run_bench("phantom.py", "--work", str(tmp_path))
    assert "phase-1 / phase3 error ratio" in out and "Friedman" in out
    for name in ("report/errors.csv", "report/summary.csv", "report/stats.csv", "report/report.md",
                 "pred/summary.csv", "bundle/phase3.keras"):
        assert (tmp_path / name).is_file(), name
    numbers = json.loads((tmp_path / "results.json").read_text())
    assert set(numbers["phases"]) == {"phase1", "phase2", "phase3"} and numbers["trained"]
    assert numbers["phases"]["phase1"]["n_evaluated"] > 0


def test_afids_benchmark_quick(tmp_path):
    data = shared_path("mri")
    out = run_bench("afids.py", "--work", str(tmp_path), "--data", str(data))
    assert "raters vs their mean" in out and "affine + B-spline registration" in out
    for name in ("report_cascade/summary.csv", "report_raters/summary.csv", "report_affine/summary.csv",
                 "report_bspline/summary.csv", "registration_bspline/ch2.fcsv", "pred/ch2/landmarks.csv",
                 "pred/index.html"):
        assert (tmp_path / name).is_file(), name
    numbers = json.loads((tmp_path / "results.json").read_text())
    assert numbers["rows"]["raters vs their mean (32 files)"]["n"] == 32 * 32
    assert numbers["rows"]["cascade phase3"]["n"] == 32
    assert numbers["rows"]["cascade phase3, steadier start"]["n"] == 32  # run_pipeline.py --phase3-starts steadier
    assert (tmp_path / "pred_steadier/ch2/landmarks.csv").is_file()


def test_real_ct_benchmark_quick(tmp_path):
    """Leave-one-subject-out on the labelled real CTs (one fold, one epoch): builds a fold bundle
    without the held-out subject and scores every method on its original scan."""
    data = shared_path("ct", "visible-human-male").parents[1]
    out = run_bench("real_ct.py", "--work", str(tmp_path), "--data", str(data))
    assert "registration B-spline" in out and "cascade phase 3 (atlas)" in out
    numbers = json.loads((tmp_path / "results.json").read_text())
    fold = numbers["headsq"]
    assert len(fold["names"]) == 16 and all(len(fold[m]) == 16 for m in ("registration affine", "cascade phase 3 (atlas)"))
    bundle = json.loads((tmp_path / "fold_headsq" / "bundle.json").read_text())
    assert bundle["info"]["training_data"]["excluded_subjects"] == ["headsq"]
    assert sorted(bundle["info"]["atlases"]) == ["visible-human-female.npz", "visible-human-male.npz"]
    assert not any("headsq" in c for c in bundle["info"]["train_cases"] + bundle["info"]["val_cases"])


def test_confidence_benchmark_quick(tmp_path):
    """Calibration on 2 small synthetic heads with the demo bundle; --write stores it in a copy of the bundle."""
    import shutil

    from cascade.bundle import DEMO_BUNDLE, Bundle

    bundle = tmp_path / "bundle"
    shutil.copytree(DEMO_BUNDLE, bundle)
    out = run_bench("confidence.py", "--work", str(tmp_path / "work"), "--models", str(bundle), "--write")
    assert "coverage" in out and "| synthetic test |" in out
    numbers = json.loads((tmp_path / "work" / "results.json").read_text())
    cal = numbers["calibration"]
    assert cal["scale"] > 0 and 0 <= numbers["validation (fitted on)"]["coverage"] <= 1
    assert Bundle.open(bundle).calibration().scale == cal["scale"]  # written where the pipeline reads it
    again = run_bench("confidence.py", "--work", str(tmp_path / "work"), "--models", str(bundle))
    assert again.splitlines()[0] == out.splitlines()[0]  # reused measurements: the same calibration
