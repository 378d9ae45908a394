"""Rebuild ``notebooks/example_report/``, the report the statistics notebook reads by default.

    python notebooks/make_example_report.py [--out notebooks/example_report] [--cases 10]

In a temporary folder (about a minute on 2 CPU cores):

1. ``python -m data.phantom --out truth --cases 10 --seed 2000``: synthetic head CTs with exact
   landmarks, held out from the demo model's training data (seed 1000);
2. ``python run_pipeline.py truth/case_*/dicom --out pred --quiet``: the demo model (``cascade/models/demo``);
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

from cascade.evaluation.inputs import find_cases  # noqa: E402
from cascade.evaluation.cli import main as evaluate_main  # noqa: E402
from tests.fixtures.synthetic_eval import simulated_rater  # noqa: E402
from data.landmark_io import read_landmarks, write_landmarks  # noqa: E402

SEED, RATER_SD_MM = 2000, 0.8


def run(*args: str, cwd: Path) -> None:
    print("$", " ".join(args), flush=True)
    subprocess.run([sys.executable, *args], cwd=cwd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


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
        run(str(ROOT / "run_pipeline.py"), *scans, "--out", "pred", "--quiet", cwd=work)
        rng = np.random.default_rng(0)
        for case, path in find_cases(work / "truth").cases.items():
            write_landmarks(work / "rater2" / f"{case}.fcsv", simulated_rater(read_landmarks(path), RATER_SD_MM, rng))
        os.chdir(work)  # relative input paths in report.md
        return evaluate_main(["--pred", "pred", "--truth", "truth", "--second-rater", "rater2", "--out", str(out)])


if __name__ == "__main__":
    sys.exit(main())
