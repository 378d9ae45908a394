"""``OUT/summary.csv``: one row per scan, the same columns in the same order whether or not a scan failed.

Columns: ``case``, ``scan``, ``error`` (empty when the scan went through), ``landmarks``,
``review`` (landmarks to check by hand: every state but ``ok``), ``outside_scan``, ``far_from_bone``,
``uncertain`` (counts of landmarks per state), ``read_s``, ``predict_s``,
``notes`` (the reader's notes, `` | ``-separated), then ``phase1_mre_mm`` ... with ``--truth``, then
whatever else a run adds (``dicom_sr``, ``pacs_sr_uid``). Counts are integers (a failed scan's are
empty cells, never ``16.0``), so ``pandas.read_csv`` reads the file as written.
"""
from __future__ import annotations

import math
import numbers
import re
from typing import Any, Iterable, Mapping

import pandas as pd

LEADING = ("case", "scan", "error", "landmarks", "review", "outside_scan", "far_from_bone", "uncertain", "read_s",
           "predict_s", "notes")
COUNTS = ("landmarks", "review", "outside_scan", "far_from_bone", "uncertain")
TEXT = ("case", "scan", "error", "notes")
_MRE = re.compile(r"^phase(\d+)_mre_mm$")


def columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The summary's columns for ``rows``: :data:`LEADING`, the phase MREs in phase order, the rest as met."""
    seen: list[str] = []
    for row in rows:
        seen += [k for k in row if k not in seen]
    mre = sorted((k for k in seen if _MRE.match(k)), key=lambda k: int(_MRE.match(k).group(1)))
    return list(LEADING) + mre + [k for k in seen if k not in LEADING and k not in mre]


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def summary_table(rows: list[Mapping[str, Any]]) -> pd.DataFrame:
    """The summary rows as a table: fixed columns (see the module docstring), counts as nullable integers."""
    cols = columns(rows)
    table = pd.DataFrame([{c: row.get(c) for c in cols} for row in rows], columns=cols, dtype=object)
    for col in cols:
        values = [v for v in table[col] if not _missing(v)]
        if col in TEXT:
            table[col] = table[col].map(lambda v: "" if _missing(v) else v)
        elif values and all(_is_int(v) for v in values) or (col in COUNTS and not values):
            table[col] = pd.array([None if _missing(v) else int(v) for v in table[col]], dtype="Int64")
    return table
