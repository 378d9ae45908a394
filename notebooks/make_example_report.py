"""Rebuild ``notebooks/example_report/``, the report the statistics notebook reads by default.

    python notebooks/make_example_report.py [--out notebooks/example_report] [--cases 10]

In a temporary folder (about a minute on 2 CPU cores):

1. ``python -m data.phantom --out truth --cases 10 --seed 2000``: synthetic head CTs with exact
   landmarks, held out from the demo model's training data (seed 1000);
2. ``python run_pipeline.py truth/case_*/dicom --models cascade/models/demo --out pred --quiet``: the demo
   model, named explicitly (the default bundle is another one);
   Its predictions are rounded to ``DECIMALS`` (0.01 mm) before scoring (``round_predictions``), and
   TensorFlow runs single-threaded with deterministic kernels (``STABLE_TF``): the float32 noise of
   inference (a few 1e-4 mm, varying with threads and CPU) then no longer rewrites the tracked files;
3. ``rater2/<case>.fcsv``: a *simulated* second annotator, the truth plus N(0, 0.8 mm) on each
   coordinate (seed 0). Synthetic heads have no real second annotation; this only shows how the
   inter-observer part of the report reads;
4. ``python -m cascade.evaluation --pred pred --truth truth --second-rater rater2 --out OUT``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cascade.bundle import DEMO_BUNDLE  # noqa: E402
from cascade.evaluation.inputs import find_cases  # noqa: E402
from cascade.evaluation.cli import main as evaluate_main  # noqa: E402
from tests.fixtures.synthetic_eval import simulated_rater  # noqa: E402
from data.landmark_io import read_landmarks, write_landmarks  # noqa: E402

SEED, RATER_SD_MM = 2000, 0.8
DECIMALS = 2  # predictions rounded to 0.01 mm before scoring
# same arithmetic whatever the machine's core count: no thread-dependent reductions, no oneDNN kernels
STABLE_TF = {"TF_DETERMINISTIC_OPS": "1", "TF_ENABLE_ONEDNN_OPTS": "0", "TF_NUM_INTRAOP_THREADS": "1",
             "TF_NUM_INTEROP_THREADS": "1"}


def run(*args: str, cwd: Path) -> None:
    print("$", " ".join(args), flush=True)
    subprocess.run([sys.executable, *args], cwd=cwd, check=True,
                   env={**os.environ, **STABLE_TF, "PYTHONPATH": str(ROOT)})


def round_number(cell: str, decimals: int = DECIMALS) -> str:
    """A CSV cell with its number rounded to ``decimals`` (``-0.00`` written ``0.00``); other text unchanged."""
    try:
        value = float(cell)
    except ValueError:
        return cell
    if not np.isfinite(value):
        return cell
    text = f"{value:.{decimals}f}"
    return text.lstrip("-") if float(text) == 0 else text


def round_predictions(pred: Path, decimals: int = DECIMALS) -> None:
    """Round every number in ``pred/<case>/landmarks.csv`` (written by ``run_pipeline.py``) in place."""
    import csv

    from data.atomic import atomic_open

    for path in sorted(pred.glob("*/landmarks.csv")):
        with path.open(newline="") as fh:
            rows = list(csv.reader(fh))
        with atomic_open(path, newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerows(
                [rows[0]] + [[row[0]] + [round_number(c, decimals) for c in row[1:]] for row in rows[1:]])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "notebooks" / "example_report")
    p.add_argument("--cases", type=int, default=10)
    args = p.parse_args(argv)
    out = args.out.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run("-m", "data.phantom", "--out", "truth", "--cases", str(args.cases), "--seed", str(SEED), "--quiet", cwd=work)
        scans = sorted(str(d.relative_to(work)) for d in (work / "truth").glob("case_*/dicom"))
        run(str(ROOT / "run_pipeline.py"), *scans, "--models", str(DEMO_BUNDLE), "--out", "pred", "--quiet", cwd=work)
        round_predictions(work / "pred")
        rng = np.random.default_rng(0)
        for case, path in find_cases(work / "truth").cases.items():
            write_landmarks(work / "rater2" / f"{case}.fcsv", simulated_rater(read_landmarks(path), RATER_SD_MM, rng))
        os.chdir(work)  # relative input paths in report.md
        return evaluate_main(["--pred", "pred", "--truth", "truth", "--second-rater", "rater2", "--out", str(out)])


if __name__ == "__main__":
    sys.exit(main())
