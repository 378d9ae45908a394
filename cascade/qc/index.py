"""The QC index page: ``OUT/index.html`` listing every case of a run with its errors and QC images.

One summary table (a row per scan: read and predict seconds, landmarks outside the scan (and far
from bone, when the run counted them), mean 3D error per phase when the truth was given, the error
message of a scan that failed), then a section per case with the reader's notes on the scan (gantry
tilt corrected, uneven slices resampled, ...), its overview image and a table of landmarks: the
state of each point (``ok``, or flagged: ``outside_scan``, ``far_from_bone``, ... with its note;
flagged points first and highlighted), inside the scan, 3D error per phase, thumbnail of the
three-slice image linking to the full PNG. The pipeline passes what it
holds in memory (``CaseView.of``); re-rendering an existing folder reads each case's
``errors.csv`` (``landmark``, ``phase``, ``error_mm``) and ``landmarks.csv`` (``CaseView.read``;
its ``state`` and ``note`` columns when there, else a point outside the scan is ``outside_scan``).
Links are relative, so the folder can be moved or zipped.
"""
from __future__ import annotations

import csv
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import quote

import pandas as pd

from cascade.evaluation.metrics import mre, ordered_phases
from cascade.qc.slices import landmark_filenames
from cascade.schema import INSIDE, NO, NOTE, OK, OUTSIDE_SCAN, STATE, UNCERTAINTY, yes_no
from data.atomic import atomic_open
from data.landmarks import LandmarkSet

OVERVIEW = "qc_overview.png"
SLICES_DIR = "qc"
SUMMARY_COLUMNS = (("read_s", "read s"), ("predict_s", "predict s"), ("landmarks", "landmarks"),
                   ("outside_scan", "outside scan"))
OPTIONAL_COLUMNS = (("review", "to review"), ("far_from_bone", "far from bone"),
                    ("uncertain", "uncertain"))  # shown when some row has them
STYLE = """body{font-family:sans-serif;margin:1em 2em;background:#fafafa}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}
td.t,th.t{text-align:left}tr.failed td{background:#fdd}img{border:1px solid #888;background:#000}
tr.flagged td{background:#fec}td.flag{font-weight:bold;color:#a40}ul.notes{background:#ffd;padding:.3em 2em}
.thumb{width:360px}.overview{max-width:100%}"""
FLAG = "\u26a0"  # warning sign before a flagged state


def _read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts ([] when it is missing or unreadable)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def _number(value: Any) -> float | None:
    """``value`` as a finite float, else None."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def read_errors(case_dir: Path) -> dict[str, dict[str, float]]:
    """``{landmark: {phase: error_mm}}`` from ``case_dir/errors.csv`` ({} when absent)."""
    out: dict[str, dict[str, float]] = {}
    for row in _read_csv(case_dir / "errors.csv"):
        err = _number(row.get("error_mm"))
        if row.get("landmark") is None or row.get("phase") is None or err is None:
            continue
        phase = str(row["phase"]).strip()
        x = _number(phase)
        phase = f"phase{int(x)}" if x is not None and x.is_integer() else phase  # older files: "1" -> "phase1"
        out.setdefault(row["landmark"], {})[phase] = err
    return out


def _text(value: Any) -> str:
    """``value`` as display text; missing values (None, NaN, empty) as ''."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value)
    return "" if text.strip().lower() in ("nan", "none") else text


def _cell(value: Any, mm: bool = False, cls: str = "") -> str:
    """A table cell: millimetres with 2 decimals, other numbers as short as exact, text escaped."""
    x = _number(value)
    if x is None:
        text = _text(value)
    else:
        text = f"{x:.2f}" if mm or not x.is_integer() else str(int(x))
    return f'<td{f" class={cls!r}" if cls else ""}>{html.escape(text)}</td>'


def scan_notes(row: Mapping[str, Any]) -> list[str]:
    """The reader's notes of a summary row (``notes``, `` | ``-separated), one per entry."""
    return [t.strip() for t in _text(row.get("notes")).split(" | ") if t.strip()]


def _link(target: Path, out_dir: Path) -> str:
    """Relative, URL-quoted and HTML-escaped href from ``out_dir`` to ``target``."""
    return html.escape(quote(target.relative_to(out_dir).as_posix()), quote=True)


def _phase_name(label: str) -> str:
    """``phase1`` -> ``phase 1`` for headings."""
    return f"phase {label[5:]}" if label.startswith("phase") and label[5:].isdigit() else label


def _mean_per_phase(errors: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Mean 3D error (``mre``) per phase."""
    by_phase: dict[str, list[float]] = {}
    for per_landmark in errors.values():
        for p, v in per_landmark.items():
            by_phase.setdefault(p, []).append(v)
    return {p: mre(v) for p, v in by_phase.items()}


@dataclass
class CaseView:
    """What the index shows of one case: landmark names, inside flags, ``{landmark: {phase: error_mm}}``,
    and each landmark's state and note (``{}`` when the prediction has none)."""

    names: list[str]
    inside: dict[str, str]
    errors: dict[str, dict[str, float]]
    states: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    uncertainty: dict[str, float] = field(default_factory=dict)  # mm, when measured

    @classmethod
    def of(cls, landmarks: LandmarkSet, errors: pd.DataFrame | None = None) -> "CaseView":
        """From what the pipeline holds in memory (a prediction and its error table)."""
        inside = landmarks.extra.get(INSIDE) or yes_no(landmarks.present)
        table: dict[str, dict[str, float]] = {}
        if errors is not None:
            for r in errors.dropna(subset=["error_mm"]).itertuples(index=False):
                table.setdefault(str(r.landmark), {})[str(r.phase)] = float(r.error_mm)
        names = list(landmarks.names)
        per = {key: dict(zip(names, map(_text, landmarks.extra[key]))) for key in (STATE, NOTE)
               if landmarks.extra.get(key) is not None}
        unc = dict(zip(names, map(_number, landmarks.extra.get(UNCERTAINTY) or [])))
        return cls(names, dict(zip(names, map(str, inside))), table, per.get(STATE, {}), per.get(NOTE, {}), unc)

    @classmethod
    def read(cls, folder: Path) -> "CaseView":
        """From a case folder's ``landmarks.csv`` and ``errors.csv`` (re-rendering an index later)."""
        errors = read_errors(folder)
        listed = [r for r in _read_csv(folder / "landmarks.csv") if r.get("name")]
        names = [r["name"] for r in listed] or list(errors)
        inside = {r["name"]: r.get(INSIDE, r.get("present", "")) for r in listed}
        states = {r["name"]: _text(r[STATE]) for r in listed if r.get(STATE) is not None}
        notes = {r["name"]: _text(r[NOTE]) for r in listed if r.get(NOTE) is not None}
        unc = {r["name"]: _number(r[UNCERTAINTY]) for r in listed if r.get(UNCERTAINTY) not in (None, "")}
        return cls(names, inside, errors, states, notes, unc)

    def state(self, name: str) -> str:
        """The landmark's state; without one recorded, ``outside_scan`` when it is not inside, else ''."""
        state = self.states.get(name, "").strip()
        if not state and self.inside.get(name, "").strip().lower() == NO:
            return OUTSIDE_SCAN
        return state

    def flagged(self, name: str) -> bool:
        """Whether the landmark's state is known and not ``ok``."""
        return self.state(name) not in ("", OK)

    def ordered(self) -> list[str]:
        """The names, flagged landmarks first (each group in the prediction's order)."""
        return sorted(self.names, key=lambda n: not self.flagged(n))


def _case_section(n: int, case: str, row: Mapping[str, Any], view: CaseView, out_dir: Path) -> list[str]:
    """Heading, overview image and landmark table (errors, slice thumbnails) of one case."""
    folder = out_dir / case
    errors, names, inside = view.errors, view.names, view.inside
    phases = ordered_phases(p for e in errors.values() for p in e)
    parts = [f'<h2 id="case-{n}">{html.escape(case)}</h2>', f"<p>{html.escape(_text(row.get('scan')))}</p>"]
    if _text(row.get("error")):
        parts.append(f"<p><b>failed:</b> {html.escape(_text(row['error']))}</p>")
    notes = scan_notes(row)
    if notes:
        parts.append('<p>Reader notes:</p><ul class="notes">' + "".join(f"<li>{html.escape(t)}</li>" for t in notes)
                     + "</ul>")
    overview = folder / OVERVIEW
    if overview.is_file():
        href = _link(overview, out_dir)
        parts.append(f'<p><a href="{href}"><img class="overview" src="{href}" alt="overview of '
                     f'{html.escape(case, quote=True)}"></a></p>')
    if not names:
        return parts
    head = "".join(f"<th>error {html.escape(_phase_name(p))} (mm)</th>" for p in phases)
    flagged = [name for name in names if view.flagged(name)]
    if flagged:
        parts.append(f"<p><b>{FLAG} flagged:</b> {html.escape(', '.join(flagged))}</p>")
    unc_head = "<th>uncertainty (mm)</th>" if view.uncertainty else ""
    parts.append(f'<table><tr><th class="t">landmark</th><th class="t">state</th><th>inside scan</th>{unc_head}{head}'
                 f'<th class="t">note</th><th class="t">slices</th></tr>')
    files = dict(zip(names, landmark_filenames(names)))
    for name in view.ordered():
        image = folder / SLICES_DIR / files[name]
        thumb = ""
        if image.is_file():
            href = _link(image, out_dir)
            thumb = (f'<a href="{href}"><img class="thumb" loading="lazy" src="{href}" '
                     f'alt="{html.escape(name, quote=True)}"></a>')
        errs = "".join(_cell(errors.get(name, {}).get(p), mm=True) for p in phases)
        unc = _cell(view.uncertainty.get(name), mm=True) if view.uncertainty else ""
        state, flag = view.state(name), view.flagged(name)
        state_cell = f'<td class="t flag">{FLAG} {html.escape(state)}</td>' if flag else _cell(state, cls="t")
        parts.append(f'<tr{" class=flagged" if flag else ""}><td class="t">{html.escape(name)}</td>{state_cell}'
                     f'{_cell(inside.get(name, ""), cls="t")}{unc}{errs}{_cell(view.notes.get(name, ""), cls="t")}'
                     f'<td class="t">{thumb}</td></tr>')
    parts.append("</table>")
    return parts


def index_html(out_dir: str | Path, rows: Iterable[Mapping[str, Any]], title: str = "Landmark Cascade QC",
               views: Mapping[str, CaseView] | None = None) -> str:
    """The page's HTML for the summary ``rows`` (dicts with at least ``case``) of cases under ``out_dir``;
    ``views`` by case (what the pipeline holds), else each case's files are read (``CaseView.read``)."""
    out_dir = Path(out_dir)
    rows = [r for r in rows if r.get("case") not in (None, "")]
    views = views or {}
    shown = [views.get(str(row["case"])) or CaseView.read(out_dir / str(row["case"])) for row in rows]
    errors = [v.errors for v in shown]
    means = [_mean_per_phase(e) for e in errors]
    phases = ordered_phases(p for m in means for p in m)
    columns = list(SUMMARY_COLUMNS) + [c for c in OPTIONAL_COLUMNS if any(_text(r.get(c[0])) for r in rows)]
    head = ("<tr><th class='t'>case</th><th class='t'>scan</th>"
            + "".join(f"<th>{html.escape(label)}</th>" for _, label in columns)
            + "".join(f"<th>mean error {html.escape(_phase_name(p))} (mm)</th>" for p in phases)
            + "<th class='t'>error</th></tr>")
    table = ["<table>", head]
    sections: list[str] = []
    for n, (row, view, case_means) in enumerate(zip(rows, shown, means)):
        case = str(row["case"])
        error = _text(row.get("error"))
        table.append(f'<tr{" class=failed" if error else ""}><td class="t"><a href="#case-{n}">'
                     f'{html.escape(case)}</a></td><td class="t">{html.escape(_text(row.get("scan")))}</td>'
                     + "".join(_cell(row.get(key)) for key, _ in columns)
                     + "".join(_cell(case_means.get(p), mm=True) for p in phases)
                     + f'<td class="t">{html.escape(error)}</td></tr>')
        sections += _case_section(n, case, row, view, out_dir)
    table.append("</table>")
    return "\n".join(["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
                      f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
                      f"<h1>{html.escape(title)}</h1>",
                      "<p>Red: predicted landmark; green: truth (fainter and smaller the further it lies from the "
                      "slice). Errors are 3D distances in mm.</p>",
                      *table, *sections, "</body></html>", ""])


def write_index(out_dir: str | Path, rows: Sequence[Mapping[str, Any]] | None = None,
                title: str = "Landmark Cascade QC", views: Mapping[str, CaseView] | None = None) -> Path:
    """Write ``out_dir/index.html`` (atomically) for ``rows``, by default those of ``out_dir/summary.csv``."""
    out_dir = Path(out_dir)
    if rows is None:
        rows = _read_csv(out_dir / "summary.csv")
    path = out_dir / "index.html"
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(index_html(out_dir, rows, title, views))
    return path
