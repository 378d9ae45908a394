"""``--truth`` values of ``run_pipeline.py`` matched to scans.

``--truth`` takes one value and may be repeated. Plain files pair with the scans in order (as many
truths as scans); ``CASE=FILE`` pairs one scan explicitly, CASE being the scan path as given or its
output case name, so only some scans need a truth. The two forms are not mixed. A value whose text
before ``=`` names no scan but which is itself an existing file is a plain file (a path may hold
``=``). Every problem is one ``InputError``.
"""
from __future__ import annotations

import os
from pathlib import Path

from cascade.progress import plural
from data.errors import InputError

HINT = "give one --truth per scan, in order, or pair them as --truth CASE=FILE"


def _scan_keys(scan: Path, name: str) -> set[str]:
    """What ``CASE`` may be for this scan: the path as given (normalised) or the output case name."""
    given = str(scan)
    return {given, os.path.normpath(given), name}


def _pair(value: str, keys: list[set[str]], names: list[str]) -> tuple[int, str] | None:
    """``(scan index, file)`` when ``value`` is ``CASE=FILE`` naming a scan, else None."""
    if "=" not in value:
        return None
    case, file = value.split("=", 1)
    hits = [n for n, k in enumerate(keys) if case in k or os.path.normpath(case) in k]
    if len(hits) > 1:
        raise InputError(value, f"--truth: {case!r} names {len(hits)} scans; use the scan path as given")
    if hits:
        if not file:
            raise InputError(value, "--truth CASE=FILE: no file after '='")
        return hits[0], file
    if Path(value).exists():
        return None  # a file whose name holds '='
    raise InputError(value, f"--truth: no scan named {case!r} (case names: {', '.join(names)})")


def match_truths(values: list[str] | None, scans: list[Path], names: list[str]) -> list[Path | None]:
    """One truth path (or None) per scan, from the ``--truth`` values (see the module docstring)."""
    values = list(values or [])
    truths: list[Path | None] = [None] * len(scans)
    if not values:
        return truths
    if not scans:
        raise InputError(values[0], "--truth needs scans (the built-in example brings its own truth)")
    keys = [_scan_keys(s, n) for s, n in zip(scans, names)]
    pairs = [_pair(v, keys, names) for v in values]
    plain = [v for v, p in zip(values, pairs) if p is None]
    if plain and len(plain) < len(values):
        raise InputError(plain[0], f"--truth: plain files and CASE=FILE pairs mixed; {HINT}")
    if plain:
        if len(plain) != len(scans):
            raise InputError(plain[0], f"{plural(len(plain), 'truth file')} for {plural(len(scans), 'scan')}; {HINT}")
        return [Path(v) for v in plain]
    for value, (n, file) in zip(values, pairs):
        if truths[n] is not None:
            raise InputError(value, f"--truth: a second truth for scan {scans[n]} (already {truths[n]})")
        truths[n] = Path(file)
    return truths
