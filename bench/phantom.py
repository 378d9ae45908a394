"""Accuracy benchmark on synthetic head CTs: train on 90 generated cases, test on 30 others.

    python bench/phantom.py [--work work/bench_phantom]            # full run (~50 min on 2 cores)
    python bench/phantom.py --models cascade/models/demo                   # evaluate an existing bundle
    python bench/phantom.py --quick --work /tmp/smoke              # tiny smoke run (~1 min)

Steps (each prints its wall time): generate the training set (``data.phantom``, seed 1000) and
train the ``fast`` preset on it (``phases.train_all``, seed 0; skipped with ``--models``), generate
the test set (seed 2000: different heads, poses, scanners), run ``run_pipeline.py`` on every test
scan with ``--truth``, and evaluate with ``cascade.evaluation.cli`` (report in ``WORK/report``).
Prints per-phase MRE (mm and the paper's 500/512 mm px), per-axis mean |error|, SDR, the
phase-1 / phase-3 error ratio (the paper: 11.60 -> 4.66 -> 2.88 px, 4.0x) and the post-hoc
tests between phases; writes ``WORK/results.json``. Generated sets already in WORK (same seed
and size, complete manifest) are reused.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.steps import QUICK_PHANTOM, evaluate_into, phantom_dataset as dataset, timed  # noqa: E402

PAPER_PX = (11.60, 4.66, 2.88)


def train(manifest: Path, bundle: Path, quick: bool) -> None:
    from phases.train_cli import run

    argv = ["--manifest", str(manifest), "--bundle", str(bundle), "--preset", "fast", "--seed", "0", "--verbose", "2",
            "--overwrite"]  # a rerun into the same --work retrains
    if quick:
        argv += ["--tiny", "--epochs", "1"]
    if run([1, 2, 3], argv, validate_after=True):
        raise SystemExit("training failed")


def predict(manifest: Path, bundle: Path, out: Path) -> None:
    """``run_pipeline.py`` on every test case, in its own process, as a user would run it."""
    from data.manifest import read_manifest

    m = read_manifest(manifest)
    cmd = [sys.executable, str(ROOT / "run_pipeline.py"), *m["scan"], "--models", str(bundle), "--out", str(out),
           *[a for t in m["landmarks"] for a in ("--truth", str(t))], "--quiet", "--overwrite"]
    subprocess.run(cmd, check=True)


def results_table(result, summary, stats_path: Path) -> dict:
    """Print the benchmark table; return its numbers."""
    import pandas as pd

    overall = summary[summary.landmark == "all"].set_index("phase")
    phases = [p for p in overall.index if p.startswith("phase")]
    out: dict = {"phases": {}}
    print(f"{'phase':<8}{'n':>5}{'MRE mm':>8}{'MRE px':>8}{'median':>8}{'|x| mm':>8}{'|y| mm':>8}{'|z| mm':>8}"
          f"{'SDR2':>7}{'SDR2.5':>7}{'SDR3':>7}{'SDR4':>7}{'paper px':>9}")
    for n, p in enumerate(phases):
        r = overall.loc[p]
        paper = PAPER_PX[n] if n < 3 else float("nan")
        print(f"{p:<8}{int(r.n_evaluated):5d}{r.mre_mm:8.2f}{r.mre_px:8.2f}{r.median_mm:8.2f}{r.mae_x_mm:8.2f}"
              f"{r.mae_y_mm:8.2f}{r.mae_z_mm:8.2f}{r['sdr_le_2mm_pct']:7.1f}{r['sdr_le_2.5mm_pct']:7.1f}"
              f"{r['sdr_le_3mm_pct']:7.1f}{r['sdr_le_4mm_pct']:7.1f}{paper:9.2f}")
        out["phases"][p] = {k: float(r[k]) for k in ("n_evaluated", "mre_mm", "mre_px", "median_mm", "sd_mm", "max_mm",
                                                     "mae_x_mm", "mae_y_mm", "mae_z_mm", "sdr_le_2mm_pct",
                                                     "sdr_le_2.5mm_pct", "sdr_le_3mm_pct", "sdr_le_4mm_pct")}
    if len(phases) >= 2:
        ratio = overall.loc[phases[0], "mre_mm"] / overall.loc[phases[-1], "mre_mm"]
        out["ratio_phase1_to_last"] = float(ratio)
        print(f"phase-1 / {phases[-1]} error ratio: {ratio:.1f}x (paper: {PAPER_PX[0] / PAPER_PX[2]:.1f}x)")
    stats = pd.read_csv(stats_path)
    ph = stats[stats.comparison.str.startswith("phases")]
    for row in ph.itertuples():
        pair = row.group_a if not isinstance(row.group_b, str) else f"{row.group_a} vs {row.group_b}"
        print(f"  {row.test}: {pair}  p = {row.p_value:.2g}  (n = {row.n})")
    out["phase_tests"] = ph[["test", "group_a", "group_b", "p_value", "n"]].to_dict("records")
    worst = summary[(summary.landmark != "all") & (summary.phase == phases[-1])].nlargest(3, "mre_mm")
    out["worst_landmarks"] = {r.landmark: float(r.mre_mm) for r in worst.itertuples()}
    print("worst landmarks after the last phase: " + ", ".join(f"{k} {v:.2f} mm" for k, v in out["worst_landmarks"].items()))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("work/bench_phantom"), help="working folder (data, bundle, report)")
    ap.add_argument("--models", type=Path, help="evaluate this bundle instead of training one")
    ap.add_argument("--train-cases", type=int, default=90)
    ap.add_argument("--test-cases", type=int, default=30)
    ap.add_argument("--train-seed", type=int, default=1000)
    ap.add_argument("--test-seed", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="smoke run: 6 small training cases, 2 test cases, tiny nets")
    args = ap.parse_args(argv)
    options: dict = {}
    if args.quick:
        args.train_cases, args.test_cases = 6, 2
        options = dict(QUICK_PHANTOM)
    times: dict = {}
    t0 = time.perf_counter()
    bundle = args.models
    if bundle is None:
        train_manifest = timed("generate training set", times, dataset, args.work / "train", args.train_cases,
                               args.train_seed, options)
        bundle = args.work / "bundle"
        timed("train (phases 1-3)", times, train, train_manifest, bundle, args.quick)
    test_manifest = timed("generate test set", times, dataset, args.work / "test", args.test_cases, args.test_seed, options)
    timed("predict (run_pipeline.py)", times, predict, test_manifest, bundle, args.work / "pred")
    result, summary, paths = timed("evaluate", times, evaluate_into, args.work / "pred", test_manifest, args.work / "report")
    print(f"\n# phantom benchmark: bundle {bundle}, {args.test_cases} test cases (seed {args.test_seed})"
          + ("" if args.models else f", trained on {args.train_cases} (seed {args.train_seed})"))
    numbers = results_table(result, summary, paths["stats"])
    numbers.update(bundle=str(bundle), times_s=times, total_s=round(time.perf_counter() - t0, 1),
                   test_cases=args.test_cases, test_seed=args.test_seed, quick=args.quick,
                   trained=args.models is None, train_cases=args.train_cases, train_seed=args.train_seed)
    (args.work / "results.json").write_text(json.dumps(numbers, indent=2, default=str))
    print(f"times (s): {times}; report: {paths['report']}; numbers: {args.work / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
