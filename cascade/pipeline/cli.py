"""Landmark Cascade: find craniofacial landmarks in CT scans (DICOM folders or NIfTI files).

    python run_pipeline.py                                   # built-in example (or: landmark-cascade predict)
    python run_pipeline.py SCAN [SCAN ...] --models BUNDLE --out OUT_DIR [--overwrite] [--truth FILE ...] [--qc]
    python run_pipeline.py SCAN_A SCAN_B --truth SCAN_B=TRUTH_B --out OUT_DIR    # a truth for some scans only
    python run_pipeline.py --pacs URL --study UID [--series UID] --out OUT_DIR  # DICOMweb (data/pacs.py)
    python run_pipeline.py SCANS... --out OUT_DIR --workers 4                  # 4 worker processes
    python run_pipeline.py SCANS... --out OUT_DIR --cluster tcp://HOST:8786    # a Dask cluster

Per scan, in ``OUT_DIR/<case>/``: ``landmarks.csv`` (name, x, y, z in LPS mm, voxel k/i/j,
phase-1/2/3 estimates, the state of each point: ok / outside_scan / far_from_bone / uncertain, its
note, ``review`` yes/no and ``uncertainty_mm``, see ``cascade.confidence``), ``landmarks.fcsv``
and ``landmarks.mrk.json`` for 3D Slicer, ``landmarks.json``; with a truth, ``errors.csv`` (per
landmark and phase: x/y/z and 3D errors in mm and in the paper's 500/512 mm pixels).
``OUT_DIR/summary.csv`` has one row per scan, always the same columns (``cascade.pipeline.summary``:
case, scan, error, landmarks, review, outside_scan, far_from_bone, uncertain, read_s, predict_s,
notes, phaseN_mre_mm).
With ``--qc``: ``qc_overview.png`` and ``qc/<landmark>.png`` per scan and ``OUT_DIR/index.html``
listing the scans with their notes, flagged landmarks, errors and images.

``--truth FILE`` may be repeated: as many files as scans pair in order; ``--truth CASE=FILE`` pairs
one scan (CASE: the scan path as given or its case name), so only some scans need a truth.

``OUT_DIR/run.json`` records what the run wrote (files, command, bundle, times, version). A folder
that holds an earlier run is refused; ``--overwrite`` deletes exactly the files its run.json lists
first (never a file it does not list: a folder with such files is refused). The built-in example
replaces its own earlier example output. Progress goes to stderr (a bar on a terminal, plain lines
in a log), with each scan's reader notes. Bad input: one line naming the file and the problem; a
bad scan among several is reported (and listed in the summary's ``error`` column) while the others
are processed, and the exit code is 2 if any failed.

Many scans: ``--workers N`` runs them on N worker processes of this machine (each loads the bundle
once and uses its share of the cores); ``--cluster ADDRESS`` on the workers of a Dask scheduler.
The files are the same as a serial run's (``cascade.pipeline.executors``).

With no scan, the built-in example generates a synthetic head CT (``data.phantom``, seed 0) in
``OUT_DIR/inputs/example``, runs the default bundle (``cascade/models/craniofacial``) on it and
prints each landmark with its errors.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

from cascade.bundle import DEFAULT_BUNDLE, Bundle
from cascade.config import PHASE3_STARTS
from cascade.pipeline.case_run import FORMATS
from cascade.pipeline.executors import dask_cluster, default_workers, process_pool, serial, threads_per_worker
from cascade.pipeline.jobs import ModelSpec, ScanJob
from cascade.pipeline.naming import unique_names
from cascade.pipeline.run_manifest import RunManifest, check_out, clear_out, command_line, files_under
from cascade.pipeline.summary import summary_table
from cascade.pipeline.truths import match_truths
from cascade.progress import Progress, duration, plural
from data.atomic import folder_lock, write_csv
from data.errors import EXIT_BAD_INPUT, InputError, as_input_error, boundary, report

EXAMPLE_SEED = 0
EXAMPLE_INPUTS = "inputs/example"


def make_example(out: Path) -> tuple[Path, Path]:
    """Write the synthetic example case; returns (DICOM folder, true landmark CSV)."""
    from data.phantom import write_case

    inputs = out / "inputs"
    row = write_case(inputs / "example", EXAMPLE_SEED, case_id="example")  # paths relative to ``inputs``
    return inputs / row["dicom_dir"], inputs / row["landmarks"]


def _positive_mm(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of millimetres, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number, 1 or more, got {text!r}")
    return n


def _workers(text: str) -> int | str:
    return text if text == "auto" else _positive_int(text)


def resolve_workers(value: int | str, n_scans: int) -> int:
    """``--workers``: a number, or ``auto`` (``cascade.pipeline.executors.default_workers``); never
    more workers than scans."""
    n = default_workers(n_scans) if value == "auto" else int(value)
    return max(1, min(n, n_scans))


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The options of ``run_pipeline.py``."""
    first, _, rest = __doc__.partition("\n")
    p = argparse.ArgumentParser(prog=prog, description=first, epilog=rest.strip("\n"),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scans", nargs="*", type=Path, help="DICOM folders, DICOM files or NIfTI files")
    p.add_argument("--models", type=Path, default=DEFAULT_BUNDLE,
                   help="model bundle (default: the shipped cascade/models/craniofacial, trained on real head CTs)")
    p.add_argument("--coarse", choices=("atlas", "network"),
                   help="first estimate: atlas registration or the phase-1 network (default: the bundle's)")
    p.add_argument("--phase3-starts", choices=PHASE3_STARTS,
                   help="phase 3 from phase 2's estimate (phase2), or from it and from the coarse estimate, "
                        "the steadier answer kept per landmark (steadier) (default: the bundle's)")
    p.add_argument("--out", type=Path, default=Path("output"), help="output folder (default: ./output)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the earlier run in --out: delete the files its run.json lists, then run")
    p.add_argument("--truth", action="append", metavar="FILE|CASE=FILE",
                   help="true landmarks; repeat it: one per scan in order, or CASE=FILE for the scan CASE "
                        "(path as given or case name) only")
    p.add_argument("--series", help="SeriesInstanceUID to read when a folder holds several")
    p.add_argument("--quiet", action="store_true", help="no per-landmark table")
    p.add_argument("--review-mm", type=_positive_mm, metavar="MM",
                   help="flag a point for review (state 'uncertain') when its uncertainty exceeds MM "
                        "(default: the bundle's, chosen on validation data; see bench/RESULTS.md)")
    p.add_argument("--workers", type=_workers, default="auto", metavar="N|auto",
                   help="worker processes, each loading the bundle once (default auto: one per 2 cores, "
                        "within memory; one for a single scan; see README 'Many scans')")
    p.add_argument("--threads", type=_positive_int, metavar="T",
                   help="threads per process, TensorFlow's and the atlas stage's (default: all cores, shared out "
                        "between --workers); "
                        "runs with the same threads give byte-identical files")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="send the scans to the workers of a running Dask scheduler (e.g. tcp://host:8786); "
                        "scans and --out on storage all workers see")
    p.add_argument("--qc", action="store_true",
                   help="also write QC images per scan (qc_overview.png: projections with the points; "
                        "qc/<landmark>.png: three slices through each point) and OUT/index.html")
    from data.pacs import add_arguments

    add_arguments(p)  # --dicom-sr, --pacs URL --study UID, credentials and TLS options
    return p


def checked_truths(args: argparse.Namespace) -> list[Path | None]:
    """One truth (or None) per scan from ``--truth`` (``--pacs``: at most one, plain); each must exist."""
    if args.pacs is not None and args.truth:
        if len(args.truth) > 1:
            raise InputError(args.truth[1], f"--pacs fetches one series: {plural(len(args.truth), 'truth file')} given")
        truths: list[Path | None] = [Path(args.truth[0])]
    else:
        truths = match_truths(args.truth, args.scans, unique_names(args.scans))
    for path in list(args.scans) + [t for t in truths if t is not None]:
        if not path.exists():
            raise InputError(path, "no such file or folder")
    return truths


def _notes(row: dict) -> list[str]:
    """The reader notes of a summary row, one per entry."""
    return [n.strip() for n in str(row.get("notes") or "").split(" | ") if n.strip()]


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """``run_pipeline.py`` / ``landmark-cascade predict``; returns the exit code."""
    args = parser(prog).parse_args(argv)
    held = contextlib.ExitStack()  # the lock on --out
    failed = 0
    try:
        truths = checked_truths(args)
        example = not args.scans and args.pacs is None
        inputs = list(args.scans) + [t for t in truths if t is not None]
        check_out(args.out, args.overwrite, example, inputs)  # refuse before any work
        from data.pacs import open_from_args

        pacs = open_from_args(args)  # --pacs: the series fetched into a temporary folder
        if pacs is not None:
            args.scans = [pacs.scan]
            truths = truths or [None]
        spec = ModelSpec(os.path.abspath(args.models), args.coarse, args.review_mm, args.threads, args.phase3_starts)
        workers = 1 if pacs is not None or example else resolve_workers(args.workers, len(args.scans) or 1)
        local = workers == 1 and args.cluster is None
        with boundary(args.models, "cannot load model bundle"):
            cascade = spec.load() if local else Bundle.open(args.models).check_files(args.coarse)  # workers load it
        held.enter_context(folder_lock(args.out))  # one run per output folder
        earlier = clear_out(args.out, check_out(args.out, args.overwrite, example, inputs))  # again, under the lock
        if earlier:
            print(f"removed the earlier run in {args.out} ({plural(earlier, 'file')})", file=sys.stderr)
        manifest = RunManifest(command_line(argv, prog), str(args.models), example=example)
        if example:
            print(f"No scan given: built-in example (synthetic head CT, seed {EXAMPLE_SEED}), "
                  f"models {args.models}")
            manifest.folders = [EXAMPLE_INPUTS]
            manifest.write(args.out)  # before the example's inputs are written: they are this run's
            scan, truth = make_example(args.out)
            args.scans, truths = [scan], [truth]
        names = unique_names(args.scans)
        manifest.cases = [{"case": name, "scan": str(scan), "scan_path": os.path.abspath(scan),
                           "truth": None if truth is None else os.path.abspath(truth), "error": None}
                          for scan, name, truth in zip(args.scans, names, truths)]
        manifest.folders += names
        manifest.write(args.out)  # status "running": these folders are this run's
        jobs = [ScanJob(n, str(scan), str(scan), str(args.out / name), None if truth is None else str(truth),
                        args.series, not args.quiet, args.qc, args.dicom_sr)
                for n, (scan, name, truth) in enumerate(zip(args.scans, names, truths))]
        rows, results, t0 = [dict() for _ in jobs], {}, time.perf_counter()
        with Progress(len(jobs), "scans") as bar:
            def header(job: ScanJob, where: str = "") -> None:
                bar.log(f"[{job.index + 1}/{len(jobs)}] {job.scan}" + (f"  (truth {job.truth})" if job.truth else "")
                        + where)

            if local:
                outcomes = serial(cascade, jobs, header, pacs.store if pacs else None)
            elif args.cluster is not None:
                print(f"Dask cluster {args.cluster}: {plural(len(jobs), 'scan')}", file=sys.stderr)
                outcomes = dask_cluster(args.cluster, spec, jobs)
            else:
                print(f"{workers} worker processes, {plural(args.threads or threads_per_worker(workers), 'thread')} each: "
                      f"{plural(len(jobs), 'scan')}", file=sys.stderr)
                outcomes = process_pool(spec, jobs, workers)
            for outcome in outcomes:
                job = jobs[outcome.index]
                name = names[job.index]
                if not local:
                    header(job, f"  (done on {outcome.worker})" if outcome.worker else "")
                if outcome.printed:  # the landmark table, below the bar's line
                    bar.close()
                    sys.stdout.write(outcome.printed)
                    sys.stdout.flush()
                if outcome.error is None:
                    rows[job.index] = outcome.result.row
                    results[job.index] = outcome.result
                    bar.log(f"    -> {args.out / name}/landmarks.{{{','.join(FORMATS)}}}")
                    for note in _notes(outcome.result.row):
                        bar.log(f"    note: {note}")
                    bar.step(name)
                else:  # reported; the other scans go on; the exit code says it at the end
                    failed += 1
                    bar.log(f"error: {outcome.error}")
                    rows[job.index] = {"case": name, "scan": job.scan, "error": outcome.error}
                    manifest.cases[job.index]["error"] = outcome.error
                    bar.step(f"{name} failed")
        results = {names[n]: results[n] for n in sorted(results)}
        written = [write_csv(summary_table(rows), args.out / "summary.csv")]
        if args.qc:
            from cascade.qc.index import CaseView, write_index

            views = {name: CaseView.of(r.landmarks, r.errors) for name, r in results.items()}
            written.append(write_index(args.out, rows, views=views))
            print(f"QC: {written[-1]}")
        manifest.finish(args.out, [*(p.relative_to(args.out).as_posix() for p in written),
                                   *(f for folder in manifest.folders for f in files_under(args.out, folder))])
        print(f"summary: {args.out / 'summary.csv'}  ({plural(len(rows) - failed, 'scan')} done, {failed} failed, "
              f"{duration(time.perf_counter() - t0)})")
    except InputError as err:
        return report(err)
    except OSError as err:  # the output folder: read-only, full, not a folder
        return report(as_input_error(args.out, err, "cannot write output"))
    finally:
        held.close()
    return EXIT_BAD_INPUT if failed else 0


if __name__ == "__main__":
    sys.exit(main())
