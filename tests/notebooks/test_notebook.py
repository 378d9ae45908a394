"""notebooks/statistics.ipynb runs top to bottom (nbclient) on small generated reports and
reproduces their summary.csv and stats.csv."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from cascade.evaluation.cli import main
from tests.fixtures.synthetic_eval import write_example

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def run_notebook(report: Path, monkeypatch) -> str:
    """Execute the notebook with LANDMARK_REPORT=report; return all its text outputs (fails on a cell error)."""
    monkeypatch.setenv("LANDMARK_REPORT", str(report))
    nb = nbformat.read(NOTEBOOKS / "statistics.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts.append(out.get("text", "") + str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(texts)


@pytest.mark.parametrize("kind", ["three phases and a second rater", "one phase"])
def test_notebook_runs_and_reproduces_the_report(tmp_path, monkeypatch, kind):
    inputs = write_example(tmp_path / "in", cases=3)
    args = ["--pred", str(inputs["pred"]), "--truth", str(inputs["truth"]), "--out", str(tmp_path / "report")]
    if kind == "one phase":  # a rater-style file per case: one phase, no inter-observer part
        args[1] = str(inputs["rater2"])
    else:
        args += ["--second-rater", str(inputs["rater2"])]
    assert main(args + ["--no-figures"]) == 0
    text = run_notebook(tmp_path / "report", monkeypatch)
    assert "summary.csv reproduced: True" in text and "stats.csv reproduced: True" in text
    if kind == "one phase":
        assert "No second rater in this report" in text and "no phase pairs to compare" in text
    else:
        assert "Friedman chi-square (paired)" in text
