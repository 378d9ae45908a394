"""Landmark Cascade: find craniofacial landmarks in CT scans (DICOM folders or NIfTI files).

    python run_pipeline.py                                   # built-in example (or: landmark-cascade predict)
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
runs the default bundle (``cascade/models/craniofacial``) on it and prints each landmark with its errors.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import pandas as pd

from cascade.bundle import DEFAULT_BUNDLE
from cascade.pipeline.case_run import FORMATS, run_case
from cascade.pipeline.naming import unique_names
from data.atomic import folder_lock, write_csv
from data.errors import EXIT_BAD_INPUT, InputError, as_input_error, boundary, report

EXAMPLE_SEED = 0


def make_example(out: Path) -> tuple[Path, Path]:
    """Write the synthetic example case; returns (DICOM folder, true landmark CSV)."""
    from data.phantom import write_case

    inputs = out / "inputs"
    row = write_case(inputs / "example", EXAMPLE_SEED, case_id="example")  # paths relative to ``inputs``
    return inputs / row["dicom_dir"], inputs / row["landmarks"]


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """``run_pipeline.py`` / ``landmark-cascade predict``; returns the exit code."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument("scans", nargs="*", type=Path, help="DICOM folders, DICOM files or NIfTI files")
    p.add_argument("--models", type=Path, default=DEFAULT_BUNDLE,
                   help="model bundle (default: the shipped cascade/models/craniofacial, trained on real head CTs)")
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
        rows, results, t0, failed = [], {}, time.perf_counter(), 0
        for n, (scan, name) in enumerate(zip(args.scans, unique_names(args.scans))):
            truth = truths[n] if truths else None
            eta = (time.perf_counter() - t0) / n * (len(args.scans) - n) if n else 0.0
            print(f"[{n + 1}/{len(args.scans)}] {scan}" + (f"  (about {eta:.0f} s left)" if n else ""), file=sys.stderr)
            try:
                result = run_case(cascade, scan, args.out / name, truth, args.series, not args.quiet, args.qc,
                                  args.dicom_sr, pacs.store if pacs else None)
                rows.append(result.row)
                results[name] = result
                print(f"    -> {args.out / name}/landmarks.{{{','.join(FORMATS)}}}", file=sys.stderr)
            except Exception as exc:  # whatever it is: report it, go on with the other scans, fail at the end
                failed += 1
                err = as_input_error(scan, exc, "failed")
                report(err)
                rows.append({"case": name, "scan": str(scan), "error": str(err)})
        write_csv(pd.DataFrame(rows), args.out / "summary.csv")
        if args.qc:
            from cascade.qc.index import CaseView, write_index

            views = {name: CaseView.of(r.landmarks, r.errors) for name, r in results.items()}
            print(f"QC: {write_index(args.out, rows, views=views)}")
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
