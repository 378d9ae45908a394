"""The evaluation on real annotations: each AFIDs rater file (8 raters x 4 sessions, Colin27 T1)
against the raters' mean, Colin27_MEAN.fcsv: the human bar. Skipped without ../shared/data."""
from __future__ import annotations

import pandas as pd

from cascade.evaluation.cli import main
from tests.conftest import shared_path


def test_each_rater_against_the_mean(tmp_path):
    raters = shared_path("mri", "colin27", "raters")
    mean = shared_path("mri", "colin27", "Colin27_MEAN.fcsv")
    files = sorted(raters.glob("*.fcsv"))
    assert len(files) == 32
    out = tmp_path / "report"
    assert main(["--pred", str(raters), "--truth", str(mean), "--out", str(out)]) == 0
    errors = pd.read_csv(out / "errors.csv")
    assert sorted(errors.case.unique()) == sorted(f.name[: -len(".fcsv")] for f in files)
    assert (errors.status == "ok").all() and len(errors) == 32 * 32
    per_file = errors.groupby("case").error_mm.mean()
    assert per_file.between(0.3, 5.0).all(), per_file
    overall = pd.read_csv(out / "summary.csv").query("landmark == 'all'").mre_mm.iloc[0]
    assert 0.3 < overall < 5.0 and abs(overall - errors.error_mm.mean()) < 1e-9
    report = (out / "report.md").read_text()
    assert "| 1 | AC |" in report  # landmark names with the truth file's descriptions


def test_two_sessions_as_second_rater(tmp_path):
    raters = shared_path("mri", "colin27", "raters")
    mean = shared_path("mri", "colin27", "Colin27_MEAN.fcsv")
    first, second = sorted(raters.glob("Colin27_T1_Rater01_*.fcsv"))[:2]
    out = tmp_path / "report"
    assert main(["--pred", str(first), "--truth", str(mean), "--second-rater", str(second), "--out", str(out),
                 "--no-figures"]) == 0
    stats = pd.read_csv(out / "stats.csv")
    paired = stats[stats.test.str.startswith("Wilcoxon") & stats.comparison.str.contains("inter-observer")]
    assert paired.n.iloc[0] == 32  # the second session pairs landmark by landmark with the first
