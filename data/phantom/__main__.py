"""Command line: write a synthetic head-CT dataset (DICOM series + landmarks + manifest.csv).

    python -m data.phantom --out DIR --cases N --seed S [--size 256] [--canonical] ...

One progress line per case on stderr, a summary at the end. Same arguments -> byte-identical
files. Exit status 0 on success, 2 on bad arguments, 1 on a failure while generating.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from data.manifest import read_manifest
from data.phantom.case import generate_dataset
from data.phantom.options import PROTOCOLS, make_options


def _bool_pair(ap: argparse.ArgumentParser, name: str, help_on: str, help_off: str) -> None:
    dest = name.replace("-", "_")
    ap.add_argument(f"--{name}", dest=dest, action="store_true", default=None, help=help_on)
    ap.add_argument(f"--no-{name}", dest=dest, action="store_false", help=help_off)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m data.phantom",
                                 description="Generate synthetic head CT scans with exact craniofacial landmarks.")
    ap.add_argument("--out", required=True, type=Path, help="output folder (created; cases go into case_NNNN/)")
    ap.add_argument("--cases", type=int, default=1, help="number of cases (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    ap.add_argument("--start", type=int, default=0, help="index of the first case (to extend a dataset)")
    ap.add_argument("--size", type=int, default=None, help="image matrix (rows = columns), e.g. 256 or 512")
    ap.add_argument("--pixel-spacing", type=float, default=None, help="in-plane pixel size in mm (default: 0.4-1.0)")
    ap.add_argument("--slice-spacing", type=float, default=None, help="slice spacing in mm (default: 0.6-5)")
    ap.add_argument("--protocol", choices=PROTOCOLS, default=None, help="z coverage (default: random)")
    ap.add_argument("--canonical", action="store_true",
                    help="no pose, symmetric head, no FOV cut, no uneven gaps/oblique grid/metal, "
                         "fixed 256 x 256, 1 mm pixels, 1.25 mm slices (unless given)")
    _bool_pair(ap, "pose", "random head pose (default)", "identity pose, head centred")
    _bool_pair(ap, "symmetric", "mirror-symmetric head", "asymmetric head (default)")
    _bool_pair(ap, "fov-cut", "always cut a landmark off", "never cut a landmark off")
    _bool_pair(ap, "uneven", "always two slice spacings", "never uneven gaps")
    _bool_pair(ap, "oblique", "always an oblique (non-axial) grid", "never oblique")
    _bool_pair(ap, "metal", "always dental metal with streaks", "never metal")
    ap.add_argument("--no-teeth", dest="teeth", action="store_false", help="leave the teeth out")
    ap.add_argument("--mean-shape", action="store_true", help="every shape parameter at its mean")
    ap.add_argument("--noise", type=float, default=None, help="noise SD in HU (0: none; default 3-25)")
    ap.add_argument("--blur", type=float, default=None, help="blur SD in mm (0: none; default 0.35-0.8)")
    ap.add_argument("--max-slices", type=int, default=400, help="cap on slices per case (default 400)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    if args.cases < 1:
        ap.error("--cases must be at least 1")
    options = dict(canonical=args.canonical, pose=args.pose, symmetric=args.symmetric, fov_cut=args.fov_cut,
                   uneven=args.uneven, oblique=args.oblique, metal=args.metal, teeth=args.teeth,
                   mean_shape=args.mean_shape, size=args.size, pixel_spacing=args.pixel_spacing,
                   slice_spacing=args.slice_spacing, protocol=args.protocol, noise=args.noise, blur=args.blur,
                   max_slices=args.max_slices)
    try:
        make_options(**options)
    except (ValueError, TypeError) as exc:
        ap.error(str(exc))
    progress = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    try:
        manifest = generate_dataset(args.out, args.cases, args.seed, start=args.start, progress=progress, **options)
    except Exception as exc:  # one clear line, not a traceback, for generation failures
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    rows = read_manifest(manifest)
    elapsed = time.perf_counter() - t0
    absent = int((rows["absent"] != "").sum())
    slices = int(rows["slices"].astype(int).sum())
    print(f"{len(rows)} case(s), {slices} slices, {absent} with absent landmarks, in {elapsed:.1f} s "
          f"({elapsed / len(rows):.2f} s/case); manifest: {manifest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
