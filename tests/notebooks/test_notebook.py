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
        # a busy kernel may flush one print() as several stream outputs: join a cell's streams as one text
        stream = "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream")
        texts.append(stream)
        texts.extend(str(out.get("data", {}).get("text/plain", "")) for out in cell.get("outputs", [])
                     if out.get("output_type") != "stream")
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


@pytest.fixture
def small_report(tmp_path):
    inputs = write_example(tmp_path / "in", cases=2)
    assert main(["--pred", str(inputs["pred"]), "--truth", str(inputs["truth"]), "--out", str(tmp_path / "report"),
                 "--no-figures"]) == 0
    return tmp_path / "report"


def test_relative_report_path_is_read_from_where_jupyter_was_started(small_report, monkeypatch):
    """The kernel runs in notebooks/; a relative LANDMARK_REPORT is the user's, from the shell's PWD."""
    started = small_report.parent
    monkeypatch.setenv("PWD", str(started))
    text = run_notebook(small_report.relative_to(started), monkeypatch)
    assert "summary.csv reproduced: True" in text and f"report folder: {small_report}" in text


def test_a_case_folder_fails_at_once_saying_what_to_point_at(tmp_path, monkeypatch):
    from nbclient.exceptions import CellExecutionError

    case = tmp_path / "out" / "case_0000"
    case.mkdir(parents=True)
    (case / "landmarks.csv").write_text("name,x,y,z\nS,1,2,3\n")
    (case / "errors.csv").write_text("case,landmark,phase,status,error_mm\nc,S,phase1,ok,1.0\n")
    with pytest.raises(CellExecutionError) as err:
        run_notebook(case, monkeypatch)
    assert "LANDMARK_REPORT points at a case folder" in str(err.value)
    assert "cascade.evaluation" in str(err.value)


def test_example_report_uses_the_demo_model_and_stable_numbers(monkeypatch, tmp_path):
    """The tracked example is the demo bundle's (not whatever the default is), with rounded predictions."""
    import importlib.util

    from cascade.bundle import DEMO_BUNDLE

    spec = importlib.util.spec_from_file_location("make_example_report", NOTEBOOKS / "make_example_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    calls = []

    class Stop(Exception):
        pass

    def fake_run(*args, cwd):
        calls.append(args)
        if len(calls) == 2:
            raise Stop

    monkeypatch.setattr(module, "run", fake_run)
    with pytest.raises(Stop):
        module.main(["--out", str(tmp_path / "r"), "--cases", "1"])
    pipeline = calls[1]
    assert pipeline[pipeline.index("--models") + 1] == str(DEMO_BUNDLE)
    assert module.STABLE_TF["TF_NUM_INTRAOP_THREADS"] == "1"
    assert [module.round_number(c) for c in ("6.196948096389775", "-0.0012", "yes", "nan", "12")] == [
        "6.20", "0.00", "yes", "nan", "12.00"]
    case = tmp_path / "pred" / "a"
    case.mkdir(parents=True)
    (case / "landmarks.csv").write_text("name,x,present\nS,1.23456,yes\n")
    module.round_predictions(tmp_path / "pred")
    assert (case / "landmarks.csv").read_text() == "name,x,present\nS,1.23,yes\n"
