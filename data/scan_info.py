"""Inspect a scan from the command line: geometry, series, and what the reader corrected.

    python -m data.scan_info SCAN_DIR_OR_FILE [--list-series] [--series UID] [--max-voxels N]

Exit status 0 on success, 2 on bad input (one line on stderr naming the file and the problem).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from data.errors import InputError, boundary, report
from data.load import is_nifti, load_volume
from data.volume import MAX_BYTES, MAX_VOXELS


def describe(vol) -> str:
    """Multi-line human summary of a ``Volume``."""
    m = vol.meta
    lines = [
        f"source      {m.get('source', '?')}",
        f"modality    {m.get('modality', '?')}   series {m.get('series_uid', '-')}",
        f"shape       {vol.shape} [slices, rows, columns]",
        "spacing     " + " x ".join(f"{s:.4f}" for s in vol.spacing) + " mm (k, i, j)",
        f"values      {float(vol.array.min()):.1f} .. {float(vol.array.max()):.1f}",
        "voxel (0,0,0) at LPS " + np.array2string(vol.index_to_lps([0, 0, 0]), precision=3),
        "centre      at LPS " + np.array2string(vol.center_lps(), precision=3),
        "affine (index k,i,j -> LPS mm):",
        np.array2string(vol.affine, precision=4, suppress_small=True),
    ]
    lines += [f"note        {n}" for n in m.get("notes", [])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m data.scan_info", description=__doc__.splitlines()[0])
    p.add_argument("path", help="DICOM folder, DICOM file or NIfTI file")
    p.add_argument("--list-series", action="store_true", help="list the image series found and exit")
    p.add_argument("--series", help="SeriesInstanceUID to read (default: the one with most slices)")
    p.add_argument("--max-voxels", type=int, default=MAX_VOXELS,
                   help=f"refuse scans that decode to more voxels (default {MAX_VOXELS}, checked before decoding)")
    args = p.parse_args(argv)
    try:
        with boundary(args.path):
            if args.list_series and not is_nifti(args.path):
                from data.dicom_scan import scan_folder

                scan = scan_folder(args.path)
                for s in scan.series:
                    print(s.summary())
                print(f"({len(scan.series)} series; skipped: {scan.skipped_text()})")
                return 0 if scan.series else 2
            vol = load_volume(args.path, args.series, max_voxels=args.max_voxels,
                              max_bytes=MAX_BYTES * args.max_voxels // MAX_VOXELS)
        print(describe(vol))
    except InputError as err:
        return report(err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
