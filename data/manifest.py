"""Dataset manifests: one CSV row per case naming its scan and its landmark file.

Required columns: ``case_id``, the scan (``image``, ``dicom_dir`` or ``scan``: a DICOM folder or
file, or a NIfTI file) and ``landmarks``. Paths are relative to the manifest's folder (absolute
paths work too). Any other columns (generation parameters, ...) are kept. Empty required cells
and (for training manifests) one scan under two case ids are refused.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from data.atomic import atomic_open
from data.errors import InputError

SCAN_COLUMNS = ("image", "dicom_dir", "scan")
PATH_COLUMNS = SCAN_COLUMNS + ("landmarks", "landmarks_fcsv", "params")


def read_manifest(path: str | Path, require_scan: bool = True) -> pd.DataFrame:
    """The manifest as strings, path columns made absolute, plus a ``scan`` column; InputError if malformed.

    ``require_scan=False`` accepts manifests of landmark files only (``case_id``, ``landmarks``);
    their ``scan`` column is empty.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(path, "no such manifest file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a readable CSV manifest: {exc}") from None
    scan_col = next((c for c in SCAN_COLUMNS if c in df.columns), None)
    missing = [c for c in ("case_id", "landmarks") if c not in df.columns]
    missing += [] if scan_col or not require_scan else ["image"]
    if missing:
        raise InputError(path, f"manifest lacks column(s) {', '.join(missing)} (has: {', '.join(df.columns)})")
    if df.empty:
        raise InputError(path, "manifest has no cases")
    dup = df["case_id"][df["case_id"].duplicated()].tolist()
    if dup:
        raise InputError(path, f"duplicate case_id {dup[0]!r}")
    for col in PATH_COLUMNS:
        if col in df.columns:
            df[col] = [str((path.parent / p).resolve()) if p.strip() else "" for p in df[col]]
    df["scan"] = df[scan_col] if scan_col else ""
    _check_cells(path, df, ["case_id", "landmarks"] + ([scan_col] if require_scan else []), require_scan)
    return df


def _check_cells(path: Path, df: pd.DataFrame, required: Sequence[str], unique_scans: bool) -> None:
    """Refuse empty required cells and (``unique_scans``) a scan listed under two case ids: in
    training it could land in both the training and the validation split."""
    for n, row in enumerate(df.itertuples(index=False), 2):  # line 1 is the header
        empty = [c for c in required if not str(getattr(row, c)).strip()]
        if empty:
            raise InputError(path, f"line {n} (case {row.case_id!r}): empty {', '.join(empty)} cell")
    if not unique_scans:
        return
    scans = df["scan"][df["scan"] != ""]
    twice = scans[scans.duplicated(keep=False)]
    if len(twice):
        ids = df.loc[twice.index[twice == twice.iloc[0]], "case_id"].tolist()
        raise InputError(path, f"scan {twice.iloc[0]} is listed under several case ids ({', '.join(map(repr, ids))})")


def write_manifest(path: str | Path, rows: Iterable[dict], columns: Sequence[str]) -> Path:
    """Write rows (dicts) with ``columns`` in that order, atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(buf.getvalue())
    return Path(path)
