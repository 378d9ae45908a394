"""``python -m cascade.evaluation`` end to end on generated files; bad input: exit 2, one line naming the file."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cascade.evaluation.cli import evaluate, main
from cascade.evaluation.metrics import ERROR_COLUMNS, OBSERVER
from tests.fixtures.synthetic_eval import write_example
from data.landmark_io import write_landmarks
from data.landmarks import LandmarkSet

ROOT = Path(__file__).resolve().parents[3]
NAMES = ("S", "N", "Ba", "ANS", "Me", "PoR")


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> dict[str, Path]:
    return write_example(tmp_path_factory.mktemp("example"), cases=4, names=NAMES)


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cascade.evaluation", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def cli(*args) -> int:
    """``main`` in-process (faster than a subprocess), arguments as the shell would pass them."""
    return main([str(a) for a in args])


def test_cli_end_to_end(example, tmp_path):
    out = tmp_path / "report"
    res = run_cli("--pred", example["pred"], "--truth", example["truth"], "--second-rater", example["rater2"],
                  "--out", out)
    assert res.returncode == 0, res.stderr
    assert "4 case(s) evaluated" in res.stdout
    errors = pd.read_csv(out / "errors.csv")
    assert list(errors.columns) == ERROR_COLUMNS
    assert len(errors) == 4 * len(NAMES) * 4  # cases x landmarks x (3 phases + inter-observer)
    assert list(pd.unique(errors.phase)) == ["phase1", "phase2", "phase3", OBSERVER]
    counts = errors.groupby(["phase", "status"]).size()
    assert counts[("phase3", "absent_in_truth")] == 1 and counts[("phase3", "outside_scan")] == 1
    assert counts[("phase1", "ok")] == 4 * len(NAMES) - 1  # phase 1 estimates are not flagged outside
    summary = pd.read_csv(out / "summary.csv")
    overall = summary[summary.landmark == "all"].set_index("phase")
    assert overall.loc["phase1", "mre_mm"] > overall.loc["phase2", "mre_mm"] > overall.loc["phase3", "mre_mm"]
    assert overall.loc["phase3", "n"] == 4 * len(NAMES) - 1 and overall.loc["phase3", "n_outside_scan"] == 1
    stats = pd.read_csv(out / "stats.csv")
    friedman = stats[stats.test.str.startswith("Friedman") & stats.comparison.str.startswith("phases")]
    assert friedman.p_value.iloc[0] < 0.01
    assert (stats.comparison.str.contains("inter-observer")).any()
    report = (out / "report.md").read_text()
    assert "- Outside the scan (failures): case1: S (phase3)" in report
    for heading in ("## Overall", "## Per landmark", "## Inter-observer", "## Comparisons", "## Figures"):
        assert heading in report
    for png in ("errors_by_landmark", "errors_by_axis", "cumulative_error", "model_vs_observer"):
        assert (out / "figures" / f"{png}.png").stat().st_size > 5000
        assert f"figures/{png}.png" in report
    assert not list(out.rglob(".*.tmp*"))  # atomic writes leave no temporaries


def test_manifest_single_files_and_options(example, tmp_path, capsys):
    manifest = tmp_path / "pred.csv"
    manifest.write_text("case_id,landmarks\n" + "".join(f"case{c},{example['pred']}/case{c}/landmarks.csv\n"
                                                         for c in range(2)))
    assert cli("--pred", manifest, "--truth", example["truth"], "--out", tmp_path / "r1", "--no-figures",
               "--px-mm", "0.5", "0.5", "2.0", "--normaliser", "S,N", "--sdr", "2", "--pck", "0.1") == 0
    errors = pd.read_csv(tmp_path / "r1" / "errors.csv")
    assert sorted(errors.case.unique()) == ["case0", "case1"]
    d = errors[["dx_mm", "dy_mm", "dz_mm"]].to_numpy() / [0.5, 0.5, 2.0]
    assert np.allclose(np.linalg.norm(d, axis=1), errors.error_px, equal_nan=True)
    summary = pd.read_csv(tmp_path / "r1" / "summary.csv")
    assert {"sdr_le_2mm_pct", "pck_le_0.1_pct"} <= set(summary.columns)
    assert not (tmp_path / "r1" / "figures").exists()
    # one prediction file against one truth file: one case, whatever the names
    assert cli("--pred", example["rater2"] / "case2.mrk.json", "--truth", example["truth"] / "case2.fcsv",
               "--out", tmp_path / "r2", "--no-figures") == 0
    errors = pd.read_csv(tmp_path / "r2" / "errors.csv")
    assert set(errors.phase) == {"final"} and len(errors) == len(NAMES)
    assert "phase comparison skipped" in (tmp_path / "r2" / "report.md").read_text()


def test_missing_landmark_in_prediction_counts_as_failure(tmp_path):
    write_landmarks(tmp_path / "t.csv", LandmarkSet(["A", "B"], [[0, 0, 0], [1, 1, 1]]))
    write_landmarks(tmp_path / "p.csv", LandmarkSet(["A", "X"], [[1, 0, 0], [5, 5, 5]]))
    result = evaluate(tmp_path / "p.csv", tmp_path / "t.csv")
    status = dict(zip(result.errors.landmark, result.errors.status))
    assert status == {"A": "ok", "X": "absent_in_truth", "B": "missing_prediction"}


@pytest.mark.parametrize("case", ["missing pred", "bad landmark file", "no matching case", "empty folder"])
def test_bad_input_one_line_exit_2(example, tmp_path, capsys, case):
    out = tmp_path / "out"
    bad = tmp_path / "bad"
    bad.mkdir()
    if case == "bad landmark file":
        (bad / "case0.csv").write_text("name,x,y,z\nS,1,2\n")
    if case == "no matching case":
        write_landmarks(bad / "other.fcsv", LandmarkSet(["S"], [[0, 0, 0]]))
    pred = tmp_path / "nope" if case == "missing pred" else bad
    code = cli("--pred", pred, "--truth", example["truth"], "--out", out)
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ")
    expected = {"missing pred": "nope: no such file or folder", "bad landmark file": "case0.csv: line 2",
                "no matching case": "bad: no case matches", "empty folder": "bad: no landmark files"}[case]
    assert expected in err[0]
    assert not out.exists()


def test_bad_input_from_the_shell(tmp_path):
    res = run_cli("--pred", tmp_path / "missing.fcsv", "--truth", tmp_path, "--out", tmp_path / "out")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing.fcsv'}: no such file or folder"]


def test_a_prediction_and_truth_of_different_scans_are_warned_about(example, tmp_path, capsys):
    """Issue 13, item 5: a real CT's prediction scored against another scan's truth is never silently scored."""
    import json
    import shutil

    from data.landmark_io import read_landmarks

    run = tmp_path / "run"  # run_pipeline.py output: OUT/<case>/landmarks.csv and OUT/run.json
    shutil.copytree(example["pred"] / "case0", run / "invesalius")
    (run / "run.json").write_text(json.dumps({"landmark_cascade_run": 1, "status": "complete", "cases": [
        {"case": "invesalius", "scan": "ct/invesalius-0051", "scan_path": "/data/ct/invesalius-0051", "truth": None}]}))
    truth = read_landmarks(example["truth"] / "case0.fcsv")
    far = tmp_path / "example.fcsv"  # the same names, 100 mm away: another scan's truth
    write_landmarks(far, LandmarkSet(truth.names, truth.coords + [100.0, 0.0, 0.0], truth.present))
    assert cli("--pred", run, "--truth", far, "--out", tmp_path / "r", "--no-figures") == 0
    warnings = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("warning: ")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: case invesalius: ")
    assert "median distance 100 mm over 5 landmarks" in warnings[0]
    assert "predicted from scan ct/invesalius-0051 (run.json), but scored against the truth of case 'example'" \
        in warnings[0]
    assert "**warning**: case invesalius" in (tmp_path / "r" / "report.md").read_text()
    # names that disagree: warned as well
    write_landmarks(tmp_path / "other.fcsv", LandmarkSet(["A", "B", "C", "S"], np.zeros((4, 3))))
    assert cli("--pred", example["pred"] / "case1" / "landmarks.csv", "--truth", tmp_path / "other.fcsv",
               "--out", tmp_path / "r2", "--no-figures") == 0
    assert "only 1 of the truth's 4 landmark names are in the prediction" in capsys.readouterr().err
    # the matching cases of the example: no warning
    assert cli("--pred", example["pred"], "--truth", example["truth"], "--out", tmp_path / "r3", "--no-figures") == 0
    assert "warning" not in capsys.readouterr().err
