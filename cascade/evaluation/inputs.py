"""The landmark files of an evaluation, by case, and the per-phase estimates in a prediction file.

An input (``--pred``, ``--truth``, ``--second-rater`` of ``cascade.evaluation.cli``) is one of:

* a landmark file (``.csv``, ``.fcsv``, ``.mrk.json``, ``.json``): one case named after the file
  (``a.mrk.json`` -> ``a``; ``OUT/c7/landmarks.csv`` -> ``c7``, its folder);
* a manifest CSV with columns ``case_id`` and ``landmarks`` (paths relative to the manifest;
  other columns ignored);
* a folder: landmark files directly in it (case = file name without its ending) and sub-folders
  holding a ``landmarks.*`` file (case = sub-folder name, the layout ``run_pipeline.py`` writes:
  ``OUT/<case>/landmarks.csv``). The project's own tables (``summary.csv``, ``errors.csv``,
  ``stats.csv``, ``manifest.csv``), ``run_pipeline.py``'s ``run.json`` and hidden files are skipped. When a case has several files
  (``a.csv`` and ``a.fcsv``), the first of ``.csv``, ``.mrk.json``, ``.fcsv``, ``.json`` is used
  (CSV keeps the per-phase columns).

A prediction file written by ``run_pipeline.py`` carries ``phase1_x`` ... ``phase3_z`` and
``inside`` columns: each phase is evaluated, and ``inside = no`` marks the final estimate as
outside the scan. Any other landmark file (a rater's ``.fcsv``) is one phase, ``final``.

``pairing_problems`` says why a prediction and its truth may not belong together (never silently
scored): fewer than half of the truth's landmarks named in the prediction; a median final distance
over :data:`FAR_MM` (most landmarks further apart than any model error: another scan or another
coordinate frame); or, for ``run_pipeline.py`` output (its ``OUT/run.json``), a scan path that does
not mention the truth's case, or a run that was given another truth file for this case.
"""
from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cascade.schema import FINAL, INSIDE, phase_columns, phase_label, phases_in
from data.errors import InputError
from data.landmark_io import read_landmarks
from data.landmarks import LandmarkSet
from data.manifest import read_manifest

ENDINGS = (".csv", ".mrk.json", ".fcsv", ".json")  # preference order when a case has several files
RUN_MANIFEST = "run.json"  # written by run_pipeline.py (cascade.pipeline.run_manifest)
SKIPPED_TABLES = {"summary.csv", "errors.csv", "stats.csv", "manifest.csv", RUN_MANIFEST}
_YES, _NO = {"yes", "true", "1"}, {"no", "false", "0"}
FAR_MM = 50.0  # a median final distance above this: not the truth of this scan
MIN_COMMON = 3  # landmarks in common needed before distances say anything


@dataclass
class Source:
    """Landmark files by case name; ``single`` when the input was one landmark file."""

    path: Path
    cases: dict[str, Path]
    single: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class Estimates:
    """One prediction file: ``coords`` (phases, N, 3) LPS mm (NaN = no estimate), ``inside`` (N,) final."""

    names: list[str]
    phases: list[str]
    coords: np.ndarray
    inside: np.ndarray

    def extended(self, names: list[str]) -> "Estimates":
        """The same estimates with ``names`` not yet present appended as missing (NaN)."""
        new = [n for n in names if n not in self.names]
        pad = np.full((len(self.phases), len(new), 3), np.nan)
        return Estimates(self.names + new, self.phases, np.concatenate([self.coords, pad], axis=1),
                         np.concatenate([self.inside, np.ones(len(new), bool)]))


def case_stem(path: Path) -> str:
    """File name without its landmark ending (``a.mrk.json`` -> ``a``)."""
    name = path.name
    for ending in ENDINGS:
        if name.lower().endswith(ending):
            return name[: -len(ending)]
    return path.stem


def _rank(path: Path) -> int:
    name = path.name.lower()
    return next((i for i, e in enumerate(ENDINGS) if name.endswith(e)), len(ENDINGS))


def _is_manifest(path: Path) -> bool:
    """A CSV whose header (first line not starting with #) has ``case_id`` and ``landmarks``."""
    if not path.name.lower().endswith(".csv") or not path.is_file():
        return False
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            lines = (ln for ln in fh if ln.strip() and not ln.lstrip().startswith("#"))
            header = next(csv.reader(lines), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    cols = {h.strip() for h in header}
    return {"case_id", "landmarks"} <= cols


def _read_manifest(path: Path) -> dict[str, Path]:
    df = read_manifest(path, require_scan=False)
    for n, (case, file) in enumerate(zip(df["case_id"], df["landmarks"]), 2):
        if not case.strip() or not file:
            raise InputError(path, f"line {n}: empty case_id or landmarks")
    return {case: Path(file) for case, file in zip(df["case_id"], df["landmarks"])}


def _folder_cases(folder: Path) -> tuple[dict[str, Path], list[str]]:
    candidates: dict[str, list[Path]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and _rank(entry) < len(ENDINGS) and entry.name.lower() not in SKIPPED_TABLES:
            candidates.setdefault(case_stem(entry), []).append(entry)
        elif entry.is_dir():
            inner = [entry / f"landmarks{e}" for e in ENDINGS if (entry / f"landmarks{e}").is_file()]
            if inner:
                candidates.setdefault(entry.name, []).extend(inner)
    cases, notes = {}, []
    for case, paths in candidates.items():
        paths.sort(key=_rank)
        cases[case] = paths[0]
        others = [p.name for p in paths[1:] if p.parent == folder or paths[0].parent == folder]
        if others:  # several formats in one sub-folder is the usual layout; elsewhere say which was read
            notes.append(f"case {case}: read {paths[0]} (also there: {', '.join(others)})")
    return cases, notes


def find_cases(path: str | Path) -> Source:
    """The landmark files of an input (file, manifest CSV or folder); InputError when there are none."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    if path.is_dir():
        cases, notes = _folder_cases(path)
        if not cases:
            raise InputError(path, f"no landmark files ({', '.join(ENDINGS)}) in folder or its sub-folders")
        return Source(path, cases, notes=notes)
    if _is_manifest(path):
        return Source(path, _read_manifest(path))
    if _rank(path) == len(ENDINGS) and not path.name.lower().endswith(".dcm"):  # .dcm: a DICOM SR file
        raise InputError(path, f"not a landmark file, manifest or folder (expected {', '.join(ENDINGS)})")
    stem = case_stem(path)
    return Source(path, {path.resolve().parent.name if stem == "landmarks" else stem: path}, single=True)


def pair_cases(pred: Source, truth: Source) -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """(case, prediction file, truth file) by case name; a single truth file serves every case.

    Returns the pairs and notes on cases found on one side only; InputError when nothing pairs.
    """
    if truth.single:
        (truth_file,) = truth.cases.values()
        return [(case, p, truth_file) for case, p in pred.cases.items()], []
    if pred.single and len(truth.cases) == 1:
        ((case, p),) = pred.cases.items()
        return [(case, p, next(iter(truth.cases.values())))], []
    pairs = [(case, p, truth.cases[case]) for case, p in pred.cases.items() if case in truth.cases]
    if not pairs:
        raise InputError(pred.path, f"no case matches {truth.path} (cases here: {_few(pred.cases)}; "
                                    f"there: {_few(truth.cases)})")
    notes = [f"{len(only)} case(s) in {src.path} only, not evaluated: {_few(only)}"
             for src, only in ((pred, [c for c in pred.cases if c not in truth.cases]),
                               (truth, [c for c in truth.cases if c not in pred.cases])) if only]
    return pairs, notes


def _few(names, limit: int = 5) -> str:
    names = list(names)
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _number(path: Path, lmset: LandmarkSet, n: int, column: str, value) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return np.nan
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(path, f"landmark {lmset.names[n]!r}: {column} value {value!r} is not a number") from None
    if np.isinf(out):
        raise InputError(path, f"landmark {lmset.names[n]!r}: {column} value {value!r} is infinite")
    return out


def _inside(path: Path, lmset: LandmarkSet) -> np.ndarray | None:
    """The ``inside`` column as booleans (empty = inside), or None when there is no such column."""
    values = lmset.extra.get(INSIDE)
    if values is None:
        return None
    out = []
    for name, value in zip(lmset.names, values):
        text = str(value).strip().lower() if value is not None else ""
        if text and text not in _YES | _NO:
            raise InputError(path, f"landmark {name!r}: inside value {value!r} is not yes/no/true/false/1/0")
        out.append(text not in _NO)
    return np.array(out, bool)


def read_estimates(path: str | Path, phases: bool = True) -> Estimates:
    """Per-phase estimates of a prediction file (``phaseN_x/y/z`` columns), else its points as ``final``.

    The final estimate of a landmark that is not present counts as missing, unless the file says it
    lies outside the scan (``inside = no``: run_pipeline.py keeps such estimates). With
    ``phases=False`` only the final points are read.
    """
    path = Path(path)
    lm = read_landmarks(path)
    inside = _inside(path, lm)
    final = lm.coords.copy()
    keep = lm.present if inside is None else (lm.present | ~inside)
    final[~keep] = np.nan
    numbers = phases_in(lm.extra) if phases else []
    if not numbers:
        return Estimates(lm.names, [FINAL], final[None], np.ones(len(lm), bool) if inside is None else inside)
    coords = np.array([[[_number(path, lm, n, col, lm.extra[col][n]) for col in phase_columns(p)]
                        for n in range(len(lm))] for p in numbers])
    return Estimates(lm.names, [phase_label(p) for p in numbers], coords,
                     np.ones(len(lm), bool) if inside is None else inside)


def run_record(pred_file: str | Path) -> dict | None:
    """The ``run.json`` entry of the case a ``run_pipeline.py`` prediction (``OUT/<case>/landmarks.*``)
    came from (``case``, ``scan``, ``scan_path``, ``truth``), or None (another file, no or unreadable manifest)."""
    path = Path(pred_file)
    try:
        data = json.loads((path.parent.parent / RUN_MANIFEST).read_text(encoding="utf-8"))
        cases = data["cases"] if isinstance(data, dict) else []
        return next((c for c in cases if isinstance(c, dict) and c.get("case") == path.parent.name), None)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None


def _words(text: str) -> set[str]:
    return {w for w in re.split(r"[^0-9a-z]+", text.lower()) if w}


def _mentions(scan_path: str, case_id: str) -> bool:
    """Whether a folder or file name of ``scan_path`` matches ``case_id`` (or one begins with the other),
    or every word of the case id occurs in the path (``case_7`` in ``.../case/7/dicom``)."""
    case = case_id.lower()
    for part in Path(scan_path).parts:
        name = case_stem(Path(part)).lower()
        for suffix in (".nii.gz", ".nii", ".dcm"):
            name = name[: -len(suffix)] if name.endswith(suffix) else name
        if name and (name == case or name.startswith(case) or case.startswith(name)):
            return True
    return bool(_words(case_id)) and _words(case_id) <= _words(scan_path)


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def pairing_problems(est: Estimates, truth: LandmarkSet, truth_file: Path, truth_case: str, pred_case: str,
                     record: dict | None = None) -> list[str]:
    """Why this prediction and this truth may not belong together ([] when nothing suggests so).

    ``truth_case``: the truth's case id (``pred_case`` when they paired by name); ``record``: the
    prediction's ``run.json`` entry (``run_record``)."""
    problems = []
    wanted = [n for n, p in zip(truth.names, truth.present) if p]
    common = [n for n in wanted if n in est.names]
    if wanted and 2 * len(common) < len(wanted):
        problems.append(f"only {len(common)} of the truth's {len(wanted)} landmark names are in the prediction")
    final = est.coords[-1]
    dist = np.array([np.linalg.norm(final[est.names.index(n)] - truth.coords[truth.index(n)]) for n in common])
    dist = dist[np.isfinite(dist)]
    if len(dist) >= MIN_COMMON and np.median(dist) > FAR_MM:
        problems.append(f"median distance {np.median(dist):.0f} mm over {len(dist)} landmarks "
                        f"({int((dist > FAR_MM).sum())} beyond {FAR_MM:g} mm: another scan or another coordinate frame)")
    if record:
        scan = str(record.get("scan_path") or record.get("scan") or "")
        if truth_case != pred_case and scan and not _mentions(scan, truth_case):
            problems.append(f"predicted from scan {record.get('scan') or scan} ({RUN_MANIFEST}), "
                            f"but scored against the truth of case {truth_case!r}")
        given = record.get("truth")
        if given and not _same_file(given, truth_file):
            problems.append(f"run_pipeline.py was given the truth {given} for this scan, not {truth_file}")
    return problems
