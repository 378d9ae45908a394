"""Landmark Cascade: find craniofacial landmarks in CT scans (DICOM folders or NIfTI files).

    python run_pipeline.py                                   # built-in example
    python run_pipeline.py SCAN [SCAN ...] --models BUNDLE --out OUT_DIR [--truth FILE ...] [--dicom-sr]
    python run_pipeline.py --pacs URL --study UID [--series UID] --out OUT_DIR  # DICOMweb (data/pacs.py)

Per scan, in ``OUT_DIR/<case>/``: ``landmarks.csv`` (name, x, y, z in LPS mm, present = inside
the scan, voxel k/i/j, phase-1/2/3 estimates), ``landmarks.fcsv`` and ``landmarks.mrk.json``
for 3D Slicer, ``landmarks.json``; with ``--truth``, ``errors.csv`` (per landmark and phase:
x/y/z and 3D errors in mm and in the paper's 500/512 mm pixels). ``OUT_DIR/summary.csv`` has
one row per scan. With ``--qc``: ``qc_overview.png`` (projections with all points) and
``qc/<landmark>.png`` (axial, coronal and sagittal slices through each predicted point, the
truth marked when given) per scan, and ``OUT_DIR/index.html`` listing the scans with their
errors and images. Bad input: one line naming the file and the problem; a bad scan among several
is reported (and listed in the summary's ``error`` column) while the others are processed, and
the exit code is 2 if any failed.

With no scan, the built-in example generates a synthetic head CT (``data.phantom``, seed 0),
runs the default bundle (``models/craniofacial``) on it and prints each landmark with its errors.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import pandas as pd

from data.atomic import LOCK_NAME, folder_lock, safe_name, write_csv
from data.errors import EXIT_BAD_INPUT, InputError, as_input_error, boundary, report

ROOT = Path(__file__).resolve().parent
DEMO_BUNDLE = ROOT / "models" / "demo"  # synthetic heads only
DEFAULT_BUNDLE = ROOT / "models" / "craniofacial"  # labelled real head CTs + synthetic heads (phases.train_real)
EXAMPLE_SEED = 0
FORMATS = ("csv", "fcsv", "mrk.json", "json")


GENERIC_FOLDERS = {"dicom", "dcm", "images", "image", "series", "scan", "ct"}
RESERVED = {"summary.csv", "index.html", "inputs", LOCK_NAME}  # what OUT itself holds


def case_name(path: Path) -> str:
    """Output folder name for a scan path (``case_7/dicom`` -> ``case_7``, ``a.nii.gz`` -> ``a``),
    made safe by ``data.atomic.safe_name`` (stays inside OUT, never empty, ``..`` or reserved)."""
    name = path.name
    for suffix in (".nii.gz", ".nii", ".dcm"):
        if name.lower().endswith(suffix):
            return safe_name(name[: -len(suffix)], RESERVED)
    if name.lower() in GENERIC_FOLDERS and path.resolve().parent.name:
        return safe_name(path.resolve().parent.name, RESERVED)
    return safe_name(name, RESERVED)


def unique_names(paths: list[Path]) -> list[str]:
    """``case_name`` of each path, with ``-2``, ``-3`` ... appended where a name is taken (also by an
    earlier suffixed one, case-insensitively: ``x/a``, ``y/a``, ``z/a-2`` -> ``a``, ``a-2``, ``a-2-2``)."""
    taken: set[str] = set()
    out = []
    for p in paths:
        base = name = case_name(p)
        n = 1
        while name.lower() in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name.lower())
        out.append(name)
    return out


def make_example(out: Path) -> tuple[Path, Path]:
    """Write the synthetic example case; returns (DICOM folder, true landmark CSV)."""
    from data.phantom import write_case

    inputs = out / "inputs"
    row = write_case(inputs / "example", EXAMPLE_SEED, case_id="example")  # paths relative to ``inputs``
    return inputs / row["dicom_dir"], inputs / row["landmarks"]


def print_table(names, pred, errors: pd.DataFrame | None) -> None:
    """Final estimates, with per-phase 3D errors when the truth is known."""
    head = f"{'name':<6}{'x':>9}{'y':>9}{'z':>9}  {'inside':<7}"
    if errors is not None:
        head += "".join(f"{f'err{p} mm':>10}" for p in (1, 2, 3))
    print(head)
    for n, name in enumerate(names):
        x, y, z = pred.final[n]
        line = f"{name:<6}{x:9.2f}{y:9.2f}{z:9.2f}  {'yes' if pred.inside[n] else 'NO':<7}"
        if errors is not None:
            e = errors[errors.landmark == name].set_index("phase")["error_mm"]
            line += "".join(f"{e.get(p, float('nan')):10.2f}" for p in (1, 2, 3))
        print(line)
    if errors is not None and len(errors):
        mre = errors.groupby("phase")["error_mm"].mean()
        print("mean 3D error (mm): " + ", ".join(f"phase {p}: {v:.2f}" for p, v in mre.items()))


def process(cascade, scan: Path, folder: Path, truth: Path | None, series: str | None, echo: bool,
            qc: bool = False, dicom_sr: bool = False, store=None) -> dict:
    """Predict one scan, write its files, return its summary row.

    ``dicom_sr``: also write ``landmarks_sr.dcm`` (``data.dicom_sr``); ``store``: a callable that
    stores that SR in a PACS (``data.pacs.PacsRun.store``).
    """
    from cascade.metrics import error_table
    from data.landmark_io import read_landmarks, write_landmarks
    from data.load import load_volume

    t0 = time.perf_counter()
    vol = load_volume(scan, series)
    t_read = time.perf_counter() - t0
    pred = cascade.predict(vol)
    lm = pred.landmark_set(vol)
    for fmt in FORMATS:
        write_landmarks(folder / f"landmarks.{fmt}", lm,
                        description=None if fmt == "csv" else f"Landmark Cascade prediction for {scan}")
    row = {"case": folder.name, "scan": str(scan), "read_s": round(t_read, 3),
           "predict_s": round(sum(pred.seconds.values()), 3), "landmarks": len(lm),
           "outside_scan": int((~pred.inside).sum()), "notes": " | ".join(vol.meta.get("notes", []))}
    if dicom_sr or store is not None:
        from data.dicom_sr import write_prediction_sr

        sr = write_prediction_sr(folder / "landmarks_sr.dcm", scan, lm, cascade.bundle, vol.meta.get("series_uid"))
        row["dicom_sr"] = sr.name
        if store is not None:
            row["pacs_sr_uid"] = store(sr)
    errors = None
    true_lm = read_landmarks(truth) if truth is not None else None
    if qc:
        from cascade.qc import display_window, overview_figure
        from cascade.qc_slices import landmark_figures

        window = display_window(vol)
        overview_figure(vol, lm, folder / "qc_overview.png", true_lm, window=window,
                        title=f"{folder.name}: {scan}".replace("$", r"\$"))  # no mathtext from a path
        landmark_figures(vol, lm, folder / "qc", true_lm, window=window, title=folder.name)
    if true_lm is not None:
        errors = error_table(pred.names, pred.estimates, true_lm, inside=pred.inside, case=folder.name)
        write_csv(errors, folder / "errors.csv")
        for p, v in errors.groupby("phase")["error_mm"].mean().items():
            row[f"phase{p}_mre_mm"] = round(float(v), 3)
    if echo:
        print_table(pred.names, pred, errors)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scans", nargs="*", type=Path, help="DICOM folders, DICOM files or NIfTI files")
    p.add_argument("--models", type=Path, default=DEFAULT_BUNDLE,
                   help="model bundle (default: models/craniofacial, trained on real head CTs)")
    p.add_argument("--coarse", choices=("atlas", "network"),
                   help="first estimate: atlas registration or the phase-1 network (default: the bundle's)")
    p.add_argument("--out", type=Path, default=Path("output"), help="output folder (default: ./output)")
    p.add_argument("--truth", type=Path, nargs="+", help="true landmark files, one per scan, in the same order")
    p.add_argument("--series", help="SeriesInstanceUID to read when a folder holds several")
    p.add_argument("--quiet", action="store_true", help="no per-landmark table")
    p.add_argument("--qc", action="store_true",
                   help="also write QC images per scan (qc_overview.png: projections with the points; "
                        "qc/<landmark>.png: three slices through each point) and OUT/index.html")
    from data.pacs import add_arguments, open_from_args

    add_arguments(p)  # --dicom-sr, --pacs URL --study UID, credentials and TLS options
    args = p.parse_args(argv)
    held = contextlib.ExitStack()  # the lock on --out
    try:
        if args.truth and len(args.truth) != max(1, len(args.scans)):
            raise InputError(args.truth[0], f"{len(args.truth)} truth files for {len(args.scans)} scans")
        for scan in args.scans + list(args.truth or []):
            if not scan.exists():
                raise InputError(scan, "no such file or folder")
        pacs = open_from_args(args)  # --pacs: the series fetched into a temporary folder
        if pacs is not None:
            args.scans = [pacs.scan]
        from cascade.predict import Cascade

        with boundary(args.models, "cannot load model bundle"):
            cascade = Cascade.load(args.models, args.coarse)
        held.enter_context(folder_lock(args.out))  # one run per output folder
        truths = list(args.truth or [])
        if not args.scans:
            print(f"No scan given: built-in example (synthetic head CT, seed {EXAMPLE_SEED}), "
                  f"models {args.models}")
            scan, truth = make_example(args.out)
            args.scans, truths = [scan], [truth]
        rows, t0, failed = [], time.perf_counter(), 0
        for n, (scan, name) in enumerate(zip(args.scans, unique_names(args.scans))):
            truth = truths[n] if truths else None
            eta = (time.perf_counter() - t0) / n * (len(args.scans) - n) if n else 0.0
            print(f"[{n + 1}/{len(args.scans)}] {scan}" + (f"  (about {eta:.0f} s left)" if n else ""), file=sys.stderr)
            try:
                rows.append(process(cascade, scan, args.out / name, truth, args.series, not args.quiet, args.qc,
                                    args.dicom_sr, pacs.store if pacs else None))
                print(f"    -> {args.out / name}/landmarks.{{{','.join(FORMATS)}}}", file=sys.stderr)
            except Exception as exc:  # whatever it is: report it, go on with the other scans, fail at the end
                failed += 1
                err = as_input_error(scan, exc, "failed")
                report(err)
                rows.append({"case": name, "scan": str(scan), "error": str(err)})
        write_csv(pd.DataFrame(rows), args.out / "summary.csv")
        if args.qc:
            from cascade.qc_index import write_index

            print(f"QC: {write_index(args.out, rows)}")
        print(f"summary: {args.out / 'summary.csv'}  ({len(rows) - failed} scans done, {failed} failed, "
              f"{time.perf_counter() - t0:.1f} s)")
    except InputError as err:
        return report(err)
    except OSError as err:  # the output folder: read-only, full, not a folder
        return report(as_input_error(args.out, err, "cannot write output"))
    finally:
        held.close()
    return EXIT_BAD_INPUT if failed else 0


if __name__ == "__main__":
    sys.exit(main())
