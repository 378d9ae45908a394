"""Evaluate predicted landmarks against the truth: errors, summaries, statistics, figures, report.

    python -m cascade.evaluation --pred PRED --truth TRUTH [--second-rater R2] --out REPORT

PRED, TRUTH and R2 are landmark files, folders of them (``run_pipeline.py`` output folders
included) or manifest CSVs (``case_id``, ``landmarks``); see ``cascade.evaluation.inputs``. Cases pair
by name; a single TRUTH file serves every PRED case (e.g. many raters of one scan). R2, a second
annotation of the same cases, is compared with TRUTH the same way (phase ``inter-observer``).

REPORT gets ``errors.csv`` (case x landmark x phase: signed/absolute x, y, z errors, 3D error in
mm and px, NME, status), ``summary.csv`` (per phase, overall and per landmark: MRE, median, SD,
max, SDR, PCK, NME, counts), ``stats.csv`` (tests, named, with p-values), ``figures/*.png`` and
``report.md``. Every file is written atomically, after all inputs have been read. Bad input:
one line ``error: <file>: <problem>`` on stderr and exit code 2.

A case whose prediction and truth look like they do not belong together (few landmark names in
common, a median distance over 50 mm, or a ``run_pipeline.py`` run that says the prediction came
from another scan; ``cascade.evaluation.inputs.pairing_problems``) is still scored, but warned
about: one ``warning: case ...`` line on stderr per case, and at the top of ``report.md``'s notes.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd

from cascade.evaluation.inputs import Source, find_cases, pair_cases, pairing_problems, read_estimates, run_record
from cascade.evaluation.metrics import OBSERVER, PAPER_PX_MM, PCK_THRESHOLDS, SDR_MM, error_table, sdr_column, summarise
from data.atomic import atomic_path
from data.errors import InputError, report
from data.landmark_io import read_landmarks
from data.landmarks import LandmarkSet


@dataclass
class Evaluation:
    """The error table of all cases (model phases, then inter-observer rows) and what was noticed."""

    errors: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    descriptions: dict[str, str] = field(default_factory=dict)  # landmark -> description in the truth
    inputs: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # one line per case whose prediction and truth may not match


def _case_errors(case: str, pred_file: Path, truth: LandmarkSet, phases: bool, warnings: list[str],
                 truth_file: Path, truth_case: str, **kw) -> pd.DataFrame:
    est = read_estimates(pred_file, phases=phases)
    problems = pairing_problems(est, truth, truth_file, truth_case, case, run_record(pred_file) if phases else None)
    if problems:
        who = "" if phases else " (second rater)"
        warnings.append(f"case {case}{who}: {pred_file} and truth {truth_file} may not belong together: "
                        + "; ".join(problems))
    est = est.extended(truth.names)
    labels = est.phases if phases else [OBSERVER]
    return error_table(est.names, est.coords, truth, phases=labels, inside=est.inside, case=case, **kw)


def _truth_case(src: Source, file: Path, case: str) -> str:
    """The truth's own case id for ``file`` (``case`` when it paired by name)."""
    return case if src.cases.get(case) == file else next((c for c, f in src.cases.items() if f == file), case)


def _truth(cache: dict[Path, LandmarkSet], path: Path) -> LandmarkSet:
    """A truth file, read once however many cases share it."""
    if path not in cache:
        cache[path] = read_landmarks(path)
    return cache[path]


def evaluate(pred: str | Path, truth: str | Path, second_rater: str | Path | None = None,
             px_mm: float | Sequence[float] = PAPER_PX_MM, normaliser: float | tuple[str, str] = 1.0) -> Evaluation:
    """Read every case and build the error table; InputError (one line, naming the file) on bad input.

    The second rater's rows take the model case's name when that case is the only one compared
    with the same truth file, so that paired model-vs-observer tests can match them.
    """
    pred_src, truth_src = find_cases(pred), find_cases(truth)
    pairs, notes = pair_cases(pred_src, truth_src)
    notes = pred_src.notes + truth_src.notes + notes
    truths: dict[Path, LandmarkSet] = {}
    kw = {"px_mm": px_mm, "normaliser": normaliser}
    frames, warnings = [], []
    for case, pred_file, truth_file in pairs:
        frames.append(_case_errors(case, pred_file, _truth(truths, truth_file), True, warnings, truth_file,
                                   _truth_case(truth_src, truth_file, case), **kw))
    norm = f"{normaliser:g} mm" if isinstance(normaliser, (int, float)) else "true distance {} - {}".format(*normaliser)
    inputs = {"pred": str(pred), "truth": str(truth), "pixel size (error_px)": f"{px_mm} mm", "NME normaliser": norm}
    if second_rater is not None:
        inputs["second rater"] = str(second_rater)
        frames += _observer_errors(find_cases(second_rater), truth_src, pairs, truths, notes, warnings, **kw)
    descriptions: dict[str, str] = {}
    for lm in truths.values():
        for name, desc in zip(lm.names, lm.descriptions):
            if desc and name not in descriptions:
                descriptions[name] = desc
    return Evaluation(pd.concat(frames, ignore_index=True), notes, descriptions, inputs, warnings)


def _observer_errors(second: Source, truth_src: Source, pairs: list, truths: dict, notes: list[str],
                     warnings: list[str], **kw) -> list[pd.DataFrame]:
    obs_pairs, obs_notes = pair_cases(second, truth_src)
    notes += second.notes + [f"second rater: {n}" for n in obs_notes]
    by_truth: dict[Path, list[str]] = {}
    for case, _, truth_file in pairs:
        by_truth.setdefault(truth_file, []).append(case)
    frames = []
    for case, file, truth_file in obs_pairs:
        same = by_truth.get(truth_file, [])
        frames.append(_case_errors(same[0] if len(same) == 1 else case, file, _truth(truths, truth_file), False,
                                   warnings, truth_file, _truth_case(truth_src, truth_file, case), **kw))
    return frames


def write_outputs(result: Evaluation, out: str | Path, sdr_mm: Sequence[float] = SDR_MM,
                  pck: Sequence[float] = PCK_THRESHOLDS, alpha: float = 0.05,
                  figures: bool = True) -> tuple[dict[str, Path], pd.DataFrame]:
    """errors.csv, summary.csv, stats.csv, figures/ and report.md under ``out``; returns ({name: path}, summary)."""
    from cascade.evaluation.report import write_report_md
    from cascade.evaluation.statistics import all_statistics

    out = Path(out)
    summary = summarise(result.errors, sdr_mm, pck)
    stats = all_statistics(result.errors)
    paths = {}
    for name, table in (("errors", result.errors), ("summary", summary), ("stats", stats)):
        with atomic_path(out / f"{name}.csv") as tmp:
            table.to_csv(tmp, index=False)
        paths[name] = out / f"{name}.csv"
    figs = {}
    if figures:
        from cascade.evaluation.figures import write_figures

        figs = write_figures(result.errors, out / "figures")
    paths.update(figs)
    shown = dataclasses.replace(result, notes=[f"**warning**: {w}" for w in result.warnings] + result.notes)
    paths["report"] = write_report_md(out / "report.md", shown, summary, stats, {k: p.relative_to(out) for k, p in figs.items()},
                                      sdr_mm=sdr_mm, alpha=alpha)
    return paths, summary


def _normaliser(text: str) -> float | tuple[str, str]:
    try:
        value = float(text)
    except ValueError:
        names = [t.strip() for t in text.split(",")]
        if len(names) != 2 or not all(names):
            raise argparse.ArgumentTypeError(f"{text!r}: a length in mm or two landmark names 'A,B'") from None
        return names[0], names[1]
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be positive")
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cascade.evaluation", description=__doc__.splitlines()[0])
    p.add_argument("--pred", required=True, type=Path, help="predictions: landmark file, folder or manifest CSV")
    p.add_argument("--truth", required=True, type=Path, help="true landmarks: landmark file, folder or manifest CSV")
    p.add_argument("--second-rater", type=Path, help="a second annotation of the same cases (inter-observer gap)")
    p.add_argument("--out", required=True, type=Path, help="report folder")
    p.add_argument("--px-mm", type=float, nargs="+", default=[PAPER_PX_MM],
                   help="pixel size in mm for error_px: one value or x y z (default 500/512)")
    p.add_argument("--normaliser", type=_normaliser, default=1.0,
                   help="NME denominator: a length in mm (default 1) or two landmark names 'A,B' (their true distance)")
    p.add_argument("--sdr", type=float, nargs="+", default=list(SDR_MM), help="SDR radii in mm (error <= r)")
    p.add_argument("--pck", type=float, nargs="+", default=list(PCK_THRESHOLDS),
                   help="PCK thresholds in normaliser units (NME <= t)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level for the report (default 0.05)")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    args = p.parse_args(argv)
    if len(args.px_mm) not in (1, 3) or min(args.px_mm) <= 0:
        p.error("--px-mm takes one positive value or three (x y z)")
    try:
        result = evaluate(args.pred, args.truth, args.second_rater,
                          args.px_mm[0] if len(args.px_mm) == 1 else tuple(args.px_mm), args.normaliser)
    except InputError as err:
        return report(err)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    paths, summary = write_outputs(result, args.out, args.sdr, args.pck, args.alpha, not args.no_figures)
    print(f"{result.errors['case'].nunique()} case(s) evaluated; report: {paths['report']}")
    r = min(args.sdr, key=lambda v: abs(v - 2.0))
    for row in summary[summary["landmark"] == "all"].to_dict("records"):
        print(f"  {row['phase']}: MRE {row['mre_mm']:.2f} mm (SD {row['sd_mm']:.2f}, n = {row['n']}), "
              f"SDR <= {r:g} mm {row[sdr_column(r)]:.1f} %, outside scan {row['n_outside_scan']}, "
              f"missing {row['n_missing_prediction']}")
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
