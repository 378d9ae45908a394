"""run_pipeline.py on bad input: one line naming the file, exit code 2, no output files."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def run(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize("case", ["missing scan", "missing truth", "truth count", "not a bundle"])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, case):
    scan = tmp_path / "scan"
    scan.mkdir()
    out = tmp_path / "out"
    args = {
        "missing scan": (tmp_path / "nope", "--out", out),
        "missing truth": (scan, "--truth", tmp_path / "t.csv", "--out", out),
        "truth count": (scan, scan, "--truth", tmp_path / "t.csv", "--out", out),
        "not a bundle": (scan, "--models", tmp_path, "--out", out),
    }[case]
    res = run(*args, cwd=tmp_path)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    expected = {"missing scan": "nope: no such file or folder", "missing truth": "t.csv: no such file or folder",
                "truth count": "1 truth file for 2 scans", "not a bundle": "not a model bundle"}[case]
    assert expected in lines[0]
    assert not out.exists()
