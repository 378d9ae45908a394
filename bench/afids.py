"""Accuracy on real human annotations: AFIDs brain MRI, cascade vs raters vs atlas registration.

    python bench/afids.py [--work work/bench_afids] [--cases 48]     # full run (< 1 h on 2 cores)
    python bench/afids.py --quick --work /tmp/afids_smoke             # smoke run (a few minutes)

Data: ``../shared/data/mri`` (see its README). Protocol:

1. **Train** the ``fast`` preset on the MNI2009cAsym T1 template and its 32 ground-truth AFIDs
   only: ``--cases`` augmented copies (``data.augment.spatial``: random affine, elastic deformation,
   bias field, gamma, noise, blur, left/right flips that swap L/R names) plus the template itself,
   every phase preprocessed by intensity normalisation (``--intensity intensity``); validation
   split and early stopping on augmented copies only.
2. **Test** on Colin27 (``colin27/ch2.nii.gz``, another person, never used for training,
   tuning or checkpoint choice): ``run_pipeline.py`` predicts the 32 points, compared with
   ``Colin27_MEAN.fcsv`` (the mean of 8 raters x 4 sessions) by ``cascade.evaluation.cli``.
   The same bundle is run again with ``--phase3-starts steadier`` (phase 3 from phase 2's and
   from the phase-1 estimate, per landmark the steadier answer; the shipped CT bundle's default).
3. **Side by side**: (a) the 32 rater files against their mean (the human bar); (b) the template
   registered to Colin27 with SimpleITK (affine; affine + B-spline; ``cascade/registration.py``)
   and its landmarks carried across, evaluated the same way, with their times.

Prints one table (MRE, median, SDR at 2/3/4 mm, seconds) and a per-landmark table; writes
reports under ``WORK/report_*`` and the numbers in ``WORK/results.json``.
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

from bench.steps import evaluate_into, reuse_or_make, timed  # noqa: E402

MRI = ROOT.parent / "shared" / "data" / "mri"
TEMPLATE = "mni2009c/tpl-MNI152NLin2009cAsym_res-01_T1w.nii.gz"
TEMPLATE_AFIDS = "mni2009c/tpl-MNI152NLin2009cAsym_res-01_desc-groundtruth_afids.fcsv"
SUBJECT = "colin27/ch2.nii.gz"
SUBJECT_MEAN = "colin27/Colin27_MEAN.fcsv"
RATERS = "colin27/raters"


def augment(data: Path, folder: Path, cases: int, seed: int) -> Path:
    """The augmented training set (reused when a complete one with the same settings exists)."""
    from data.augment.spatial import augmented_dataset
    from data.landmark_io import read_landmarks
    from data.nifti import read_nifti

    return reuse_or_make(folder, {"cases": cases, "seed": seed, "template": TEMPLATE}, lambda: augmented_dataset(
        read_nifti(data / TEMPLATE), read_landmarks(data / TEMPLATE_AFIDS), folder, cases, seed,
        include_original=True))


def train(manifest: Path, bundle: Path, quick: bool, epochs_global: int, epochs_local: int, crops: int) -> None:
    """Phase 1, then phases 2-3 (own epoch counts), intensity-normalised inputs, validated at the end."""
    from phases.train_cli import run

    # --overwrite: a rerun into the same --work trains the bundle again
    base = ["--manifest", str(manifest), "--bundle", str(bundle), "--preset", "fast", "--seed", "0",
            "--intensity", "intensity", "--verbose", "2", "--overwrite"] + (["--tiny"] if quick else [])
    if run([1], base + ["--epochs", str(epochs_global)]) or \
            run([2, 3], base + ["--epochs", str(epochs_local), "--crops-per-case", str(crops)], validate_after=True):
        raise SystemExit("training failed")


def predict(data: Path, bundle: Path, out: Path, starts: str = "phase2") -> None:
    """``run_pipeline.py`` on Colin27 in its own process, as a user would run it (with QC images);
    ``starts``: ``--phase3-starts``."""
    subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), str(data / SUBJECT), "--models", str(bundle),
                    "--out", str(out), "--truth", str(data / SUBJECT_MEAN), "--quiet", "--qc", "--overwrite",
                    "--phase3-starts", starts], check=True)


def registration(data: Path, out: Path, mode: str, quick: bool) -> dict:
    """Template -> Colin27 registration; the carried landmarks are written to ``out/ch2.fcsv``."""
    from cascade.coarse.registration import register_landmarks
    from data.landmark_io import read_landmarks, write_landmarks
    from data.nifti import read_nifti

    small = {"shrink": (4,), "smoothing_mm": (2.0,), "iterations": 20, "bspline_shrink": (4,),
             "bspline_smoothing_mm": (1.0,), "bspline_iterations": 10} if quick else {}
    lm, info = register_landmarks(read_nifti(data / SUBJECT), read_nifti(data / TEMPLATE),
                                  read_landmarks(data / TEMPLATE_AFIDS), mode, **small)
    write_landmarks(out / "ch2.fcsv", lm, description=f"MNI2009cAsym AFIDs carried by {mode} registration")
    return info


def summary_of(pred: Path, truth: Path, report: Path):
    """``cascade.evaluation.cli`` into ``report``; returns its summary table."""
    return evaluate_into(pred, truth, report)[1]


def overall_row(summary, phase: str) -> dict:
    r = summary[(summary.landmark == "all") & (summary.phase == phase)].iloc[0]
    return {"n": int(r.n_evaluated), "mre_mm": float(r.mre_mm), "median_mm": float(r.median_mm),
            "sd_mm": float(r.sd_mm), "sdr_le_2mm_pct": float(r.sdr_le_2mm_pct),
            "sdr_le_3mm_pct": float(r.sdr_le_3mm_pct), "sdr_le_4mm_pct": float(r.sdr_le_4mm_pct)}


def per_landmark(summary, phase: str) -> dict:
    rows = summary[(summary.landmark != "all") & (summary.phase == phase)]
    return {str(r.landmark): float(r.mre_mm) for r in rows.itertuples()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=MRI, help="the AFIDs data folder (default ../shared/data/mri)")
    ap.add_argument("--work", type=Path, default=Path("work/bench_afids"))
    ap.add_argument("--cases", type=int, default=48, help="augmented copies of the template to train on")
    ap.add_argument("--epochs-global", type=int, default=60, help="phase-1 epochs (early stopping applies)")
    ap.add_argument("--epochs-local", type=int, default=20, help="phase-2 and phase-3 epochs (early stopping applies)")
    ap.add_argument("--crops-per-case", type=int, default=54,
                    help="phases 2-3: shifted crops per case per epoch (32 landmarks share them)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 copies, tiny nets, 1 epoch, coarse registration")
    args = ap.parse_args(argv)
    for rel in (TEMPLATE, TEMPLATE_AFIDS, SUBJECT, SUBJECT_MEAN, RATERS):
        if not (args.data / rel).exists():
            print(f"error: {args.data / rel}: AFIDs data missing (see ../shared/data/mri/README.md)", file=sys.stderr)
            return 2
    if args.quick:
        args.cases, args.epochs_global, args.epochs_local, args.crops_per_case = 3, 1, 1, 8
    work, data, times = args.work, args.data, {}
    t0 = time.perf_counter()
    manifest = timed("augment the template", times, augment, data, work / "train", args.cases, args.seed)
    timed("train (phases 1-3)", times, train, manifest, work / "bundle", args.quick, args.epochs_global,
          args.epochs_local, args.crops_per_case)
    timed("cascade: predict Colin27", times, predict, data, work / "bundle", work / "pred")
    timed("cascade, steadier start: predict Colin27", times, predict, data, work / "bundle", work / "pred_steadier",
          "steadier")
    reg_info = {mode: timed(f"registration: {mode}", times, registration, data, work / f"registration_{mode}", mode,
                            args.quick) for mode in ("affine", "bspline")}
    truth = data / SUBJECT_MEAN
    reports = {"cascade": summary_of(work / "pred", truth, work / "report_cascade"),
               "steadier": summary_of(work / "pred_steadier", truth, work / "report_steadier"),
               "raters": summary_of(data / RATERS, truth, work / "report_raters"),
               "affine": summary_of(work / "registration_affine", truth, work / "report_affine"),
               "bspline": summary_of(work / "registration_bspline", truth, work / "report_bspline")}
    bundle_info = json.loads((work / "bundle" / "bundle.json").read_text())["info"]
    import pandas as pd

    pred_summary = pd.read_csv(work / "pred" / "summary.csv").iloc[0]
    rows = {f"cascade {p}": overall_row(reports["cascade"], p) for p in ("phase1", "phase2", "phase3")}
    rows["cascade phase3, steadier start"] = overall_row(reports["steadier"], "phase3")
    rows["raters vs their mean (32 files)"] = overall_row(reports["raters"], "final")
    rows["affine registration"] = overall_row(reports["affine"], "final")
    rows["affine + B-spline registration"] = overall_row(reports["bspline"], "final")
    seconds = {"cascade phase3": float(pred_summary.read_s + pred_summary.predict_s),
               "affine registration": reg_info["affine"]["total_s"],
               "affine + B-spline registration": reg_info["bspline"]["total_s"]}
    print(f"\n# AFIDs: trained on MNI2009cAsym ({args.cases} augmented copies + the template), tested on Colin27 "
          f"vs Colin27_MEAN ({'quick smoke run' if args.quick else 'full run'})")
    print(f"{'method':<34}{'n':>5}{'MRE mm':>8}{'median':>8}{'SD':>7}{'SDR2 %':>8}{'SDR3 %':>8}{'SDR4 %':>8}{'time s':>8}")
    for name, r in rows.items():
        t = seconds.get(name, float("nan"))
        print(f"{name:<34}{r['n']:5d}{r['mre_mm']:8.2f}{r['median_mm']:8.2f}{r['sd_mm']:7.2f}{r['sdr_le_2mm_pct']:8.1f}"
              f"{r['sdr_le_3mm_pct']:8.1f}{r['sdr_le_4mm_pct']:8.1f}{t:8.1f}")
    lms = {"cascade": per_landmark(reports["cascade"], "phase3"), "steadier": per_landmark(reports["steadier"], "phase3"),
           "raters": per_landmark(reports["raters"], "final"),
           "affine": per_landmark(reports["affine"], "final"), "bspline": per_landmark(reports["bspline"], "final")}
    print(f"\n{'landmark':<10}{'cascade':>9}{'steadier':>9}{'raters':>9}{'affine':>9}{'bspline':>9}   (MRE mm)")
    for name in lms["raters"]:
        print(f"{name:<10}" + "".join(f"{lms[k].get(name, float('nan')):9.2f}" for k in lms))
    results = {"rows": rows, "seconds": seconds, "per_landmark": lms, "times_s": times,
               "total_s": round(time.perf_counter() - t0, 1), "cases": args.cases, "quick": args.quick,
               "training": {k: bundle_info.get(k) for k in ("train_seconds", "validation")},
               "registration": {m: {k: v for k, v in i.items() if isinstance(v, (int, float, str))}
                                for m, i in reg_info.items()}}
    (work / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"\ntimes (s): {times}; total {results['total_s']:.0f} s; reports: {work}/report_*; numbers: {work / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
