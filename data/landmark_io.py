"""Read and write landmark files: CSV, Slicer ``.fcsv``, Slicer ``.mrk.json`` and plain JSON.

The format follows the file name ending (``.csv``, ``.fcsv``, ``.mrk.json``, ``.json``). Every
format is written in LPS millimetres; Slicer files in RAS are converted on read (x, y negated).
Malformed files raise :class:`~data.errors.InputError` naming the file, the problem and, where it
helps, the line or landmark. Numbers are written as they are held (shortest exact form);
predictions are rounded before (``cascade.schema.COORD_DECIMALS``, ``LandmarkSet.rounded``).

Absent landmarks (``present == False``: no point):

* CSV: ``present`` column ``no``; coordinates empty when unknown (NaN).
* ``.fcsv`` has no such field. Convention: the point is written with ``vis = 0`` and its ``desc``
  prefixed with :data:`ABSENT_MARKER` (``"[absent]"``, plus one space before any description);
  on read a ``desc`` starting with the marker means absent (the marker is removed). ``vis = 0``
  alone does *not* mean absent (users hide points). Unknown coordinates are written empty.
* ``.mrk.json``: ``positionStatus`` ``"undefined"``, ``visibility`` false; ``position`` omitted
  when unknown.
* plain JSON: ``"present": false``; unknown coordinates ``null``.

Point states (the ``state`` / ``note`` extra columns of a prediction, ``cascade.schema``): every
present point is placed in the Slicer files (``.fcsv`` ``vis = 1``; ``.mrk.json``
``positionStatus`` ``"defined"``, ``visibility`` true), also ``outside_scan``,
``far_from_bone`` and ``uncertain`` ones. The rule: a point whose state is ``ok`` (or that has no state: truth,
raters) is written selected, unlocked, with its own description; a point with another state is
written **not selected** (``sel = 0`` / ``"selected": false``: Slicer draws it in the unselected
colour), unlocked, and its description starts with ``"<state>: <note>"`` (e.g.
``"outside_scan: 1.5 mm below the first slice"``, then ``"; "`` and its own description if any).
On read that prefix is removed again when it matches the point's ``state`` and ``note`` columns,
so every format reads back the same descriptions, states and notes.

Extra per-landmark columns (``LandmarkSet.extra``) are written after the standard columns (CSV,
``.fcsv``) or as extra keys of each point (JSON, ``.mrk.json``, which the schema allows). Text
formats read them back as strings; JSON keeps their JSON types, except the flag columns
(:data:`FLAG_COLUMNS`: ``inside``, ``review``), held as ``yes``/``no`` text, written as ``yes``/``no`` in
CSV and ``.fcsv`` and as JSON booleans in ``.json`` / ``.mrk.json``, and read back as ``yes``/``no``
from every format.

``write_landmarks(..., description=...)`` stores a one-line note about the whole set: a
``# description = ...`` header line (``.fcsv``) or a ``"description"`` key (JSON, and the markup
object of ``.mrk.json``). CSV ignores it, so that a plain ``pandas.read_csv(path)`` reads the
file (the CSV reader still skips leading ``#`` lines of older files). It is not read back.

Hostile content: a landmark name with control characters (newline, NUL, bidi overrides, ...) is
refused on read; such characters in descriptions and text columns become spaces. Coordinates
beyond +-1e6 mm are refused. CSV and ``.fcsv`` cells that a spreadsheet would run as a formula
(``=``, ``+``, ``-``, ``@`` first, unless the cell is a number such as ``-12.5``) are written with
a leading ``'`` (``data.atomic.neutralise_cell``).
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from cascade.schema import INSIDE, NO, NOTE, REVIEW, STATE, YES, flagged
from data.atomic import atomic_open, neutralise_cell, restore_cell
from data.errors import InputError
from data.landmarks import LandmarkSet

ABSENT_MARKER = "[absent]"
MARKUPS_SCHEMA = ("https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/"
                  "Resources/Schema/markups-schema-v1.0.3.json#")
FCSV_COLUMNS = ("id", "x", "y", "z", "ow", "ox", "oy", "oz", "vis", "sel", "lock", "label", "desc",
                "associatedNodeID")
_CSV_RESERVED = ("name", "x", "y", "z", "present", "desc", "description")  # writer-side
_MRK_POINT_KEYS = ("id", "label", "description", "associatedNodeID", "position", "orientation", "selected",
                   "locked", "visibility", "positionStatus")
_TRUE, _FALSE = ("yes", "true", "1"), ("no", "false", "0")
_RAS_TO_LPS = np.array([-1.0, -1.0, 1.0])
MAX_COORD_MM = 1e6
_CONTROL = {"Cc", "Cf", "Cs", "Zl", "Zp"}  # control, format (bidi), surrogate, line/paragraph separators


def _control_chars(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in _CONTROL]


def _clean_text(value: Any) -> Any:
    """Text with control characters replaced by spaces (other values unchanged)."""
    if not isinstance(value, str) or not _control_chars(value):
        return value
    return "".join(" " if unicodedata.category(c) in _CONTROL else c for c in value)


# --------------------------------------------------------------------------- shared helpers
@dataclass
class _Row:
    """One landmark as parsed from a file, before validation."""

    where: str                      # "line 4", "landmark 2", ... for error messages
    name: Any
    xyz: Sequence[Any]              # raw values: str / number / None
    present: Any = None             # raw flag; None -> present iff coordinates are finite
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _coord(path: Path, row: _Row, axis: str, value: Any) -> float:
    """A coordinate: empty/None -> NaN, else a finite number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return math.nan
    if isinstance(value, bool):
        raise InputError(path, f"{row.where}: {axis} coordinate {value!r} is not a number")
    try:
        out = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(path, f"{row.where}: {axis} coordinate {str(value)[:40]!r} is not a number") from None
    if math.isinf(out):
        raise InputError(path, f"{row.where}: {axis} coordinate {str(value)[:40]!r} is infinite")
    if abs(out) > MAX_COORD_MM:
        raise InputError(path, f"{row.where}: {axis} coordinate {out:g} mm is out of range (beyond +-{MAX_COORD_MM:g} mm)")
    return out


def _flag(path: Path, row: _Row) -> bool | None:
    """The present flag: yes/no/true/false/1/0 (any case) or a JSON bool; empty -> None."""
    value = row.present
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if not text:
        return None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise InputError(path, f"{row.where}: present value {value!r} is not yes/no/true/false/1/0")


def _assemble(path: Path, rows: list[_Row], ras: bool = False) -> LandmarkSet:
    """Validate parsed rows (names, numbers, duplicates, flags) and build the set in LPS."""
    if not rows:
        raise InputError(path, "no landmarks in file")
    names: list[str] = []
    first: dict[str, str] = {}
    coords = np.empty((len(rows), 3))
    present = np.empty(len(rows), bool)
    extra_keys = list(dict.fromkeys(k for r in rows for k in r.extra))
    for n, row in enumerate(rows):
        if not isinstance(row.name, str):
            raise InputError(path, f"{row.where}: landmark name must be text, got {row.name!r}")
        if not row.name.strip():
            raise InputError(path, f"{row.where}: missing landmark name")
        bad = _control_chars(row.name)
        if bad:
            raise InputError(path, f"{row.where}: landmark name {row.name!r} contains control character "
                                   f"{ascii(bad[0])}")
        if row.name in first:
            raise InputError(path, f"{row.where}: duplicate landmark name {row.name!r} (first at {first[row.name]})")
        first[row.name] = row.where
        names.append(row.name)
        coords[n] = [_coord(path, row, axis, v) for axis, v in zip("xyz", row.xyz)]
        flag = _flag(path, row)
        finite = bool(np.all(np.isfinite(coords[n])))
        if flag and not finite:
            raise InputError(path, f"{row.where}: landmark {row.name!r} is marked present but lacks coordinates")
        present[n] = finite if flag is None else flag
    if ras:
        coords = coords * _RAS_TO_LPS
    extra = {k: [_clean_text(r.extra.get(k)) for r in rows] for k in extra_keys}
    return LandmarkSet(names, coords, present, [_clean_text(r.description) for r in rows], extra)


def _fmt(value: Any) -> str:
    """Text form of a value: floats at full (repr) precision, NaN/None empty."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else repr(float(value))
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


def _json_value(value: Any) -> Any:
    """A JSON-safe value: numpy scalars unwrapped, NaN -> None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


FLAG_COLUMNS = (INSIDE, REVIEW)  # extra columns of yes/no flags: JSON booleans in .json / .mrk.json, yes/no text in memory


def _text_flag(value: Any) -> Any:
    """A flag column's value as written in text formats and held in memory: bools -> yes/no."""
    return (YES if value else NO) if isinstance(value, (bool, np.bool_)) else value


def _json_flag(value: Any) -> Any:
    """A flag column's value as JSON writes it: yes/no (any case) -> true/false, else unchanged."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = value.strip().lower() if isinstance(value, str) else None
    return {YES: True, NO: False}.get(text, value) if text is not None else value


def _extra_value(extra: dict[str, Any], key: str, n: int, json_out: bool = False) -> Any:
    """Value ``n`` of extra column ``key`` as a writer puts it (flag columns converted)."""
    value = extra[key][n]
    if key in FLAG_COLUMNS:
        return _json_flag(value) if json_out else _text_flag(value)
    return _json_value(value) if json_out else value


def _read_flags(extra: dict[str, Any]) -> dict[str, Any]:
    """Read-side: flag columns' JSON booleans as yes/no text (the same values every format gives)."""
    return {k: _text_flag(v) if k in FLAG_COLUMNS else v for k, v in extra.items()}


def _slicer_description(lmset: LandmarkSet, n: int) -> str:
    """A Slicer point description: ``"<state>: <note>"`` first for a flagged point, then its own description."""
    state = lmset.extra.get(STATE, [None] * len(lmset))[n]
    desc = lmset.descriptions[n]
    if not flagged(state):
        return desc
    note = lmset.extra.get(NOTE, [""] * len(lmset))[n]
    prefix = f"{state}: {_one_line(note)}" if note else str(state)
    return f"{prefix}; {desc}" if desc else prefix


def _own_description(text: str, extra: dict[str, Any]) -> str:
    """Read-side inverse of :func:`_slicer_description`: the point's own description."""
    state, note = extra.get(STATE), extra.get(NOTE)
    if not flagged(state if isinstance(state, str) else None):
        return text
    prefix = f"{state}: {_one_line(note)}" if note else str(state)
    if text == prefix:
        return ""
    return text[len(prefix) + 2:] if text.startswith(prefix + "; ") else text


def _selected(lmset: LandmarkSet, n: int) -> bool:
    """Slicer's selected flag: False for a point whose ``state`` is not ``ok`` (shown in the unselected colour)."""
    return not flagged(lmset.extra.get(STATE, [None] * len(lmset))[n])


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _check_extra(lmset: LandmarkSet, reserved: Iterable[str]) -> list[str]:
    """Extra column names, refusing ones that would clash with the format's own columns."""
    taken = {r.lower() for r in reserved}
    clash = sorted(k for k in lmset.extra if str(k).lower() in taken)
    if clash:
        raise ValueError(f"extra columns {clash} clash with the file format's own columns")
    return list(lmset.extra)


def _read_text(path: Path) -> str:
    """File text (UTF-8, BOM tolerated), refusing missing, unreadable or empty files."""
    if not path.exists():
        raise InputError(path, "file not found")
    if not path.is_file():
        raise InputError(path, "not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(path, f"not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise InputError(path, f"cannot read: {err.strerror}") from None
    if not text.strip():
        raise InputError(path, "file is empty")
    return text


def _csv_fields(path: Path, line: str, lineno: int) -> list[str]:
    try:
        return next(csv.reader([line]))
    except csv.Error as err:
        raise InputError(path, f"line {lineno}: {err}") from None


def _write_text(path: Path, text: str) -> Path:
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return path


def _csv_text(rows: Iterable[Sequence[str]], header_lines: Sequence[str] = ()) -> str:
    """CSV text, one line per row: control characters become spaces, formula-like cells are neutralised."""
    buf = io.StringIO()
    buf.writelines(line + "\n" for line in header_lines)
    csv.writer(buf, lineterminator="\n").writerows([neutralise_cell(_clean_text(c)) for c in r] for r in rows)
    return buf.getvalue()


# --------------------------------------------------------------------------- CSV
def _read_csv(path: Path) -> LandmarkSet:
    lines = _read_text(path).splitlines(keepends=True)
    skip = 0  # leading blank and "#" comment lines
    while skip < len(lines) and (not lines[skip].strip() or lines[skip].lstrip().startswith("#")):
        skip += 1
    reader = csv.reader(io.StringIO("".join(lines[skip:])))
    try:
        records = [(reader.line_num + skip, f) for f in reader if any(x.strip() for x in f)]
    except csv.Error as err:
        raise InputError(path, f"line {reader.line_num + skip}: {err}") from None
    if not records:
        raise InputError(path, "no header line")
    header_no, header = records[0]
    lower = [h.strip().lower() for h in header]
    dup = sorted({h for h in lower if lower.count(h) > 1})
    if dup:
        raise InputError(path, f"line {header_no}: duplicate columns {', '.join(dup)}")
    name_col = "name" if "name" in lower else "label"
    missing = [c for c in (name_col, "x", "y", "z") if c not in lower]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)} (header: {','.join(header)})")
    col = {h: i for i, h in enumerate(lower)}
    desc_col = "description" if "description" in col else "desc" if "desc" in col else None
    known = {name_col, "x", "y", "z", "present", desc_col}
    extra_cols = [(h.strip(), i) for i, h in enumerate(header) if lower[i] not in known]
    rows = []
    for lineno, f in records[1:]:
        if len(f) != len(header):
            raise InputError(path, f"line {lineno}: {len(f)} fields, header has {len(header)}")
        f = [restore_cell(c) for c in f]  # undo the writer's formula guard
        rows.append(_Row(f"line {lineno}", f[col[name_col]], [f[col[a]] for a in "xyz"],
                         f[col["present"]] if "present" in col else None,
                         f[col[desc_col]] if desc_col else "",
                         {h: f[i] for h, i in extra_cols}))
    return _assemble(path, rows)


def _write_csv(path: Path, lmset: LandmarkSet, description: str | None) -> Path:
    extra = _check_extra(lmset, _CSV_RESERVED)
    with_desc = any(lmset.descriptions)
    header = ["name", "x", "y", "z", "present"] + (["description"] if with_desc else []) + extra
    rows = [header]
    for n, name in enumerate(lmset.names):
        row = [name, *(_fmt(c) for c in lmset.coords[n]), "yes" if lmset.present[n] else "no"]
        row += [lmset.descriptions[n]] if with_desc else []
        rows.append(row + [_fmt(_extra_value(lmset.extra, k, n)) for k in extra])
    return _write_text(path, _csv_text(rows))  # no "#" line: plain CSV readers take the header as it is


# --------------------------------------------------------------------------- Slicer .fcsv
_HEADER_RE = re.compile(r"^#\s*([^=]+?)\s*=\s*(.*?)\s*$")


def _coordinate_system(path: Path, value: str) -> bool:
    """True for RAS, False for LPS (Slicer writes 0/1 or RAS/LPS)."""
    key = value.strip().upper()
    if key in ("0", "RAS"):
        return True
    if key in ("1", "LPS"):
        return False
    raise InputError(path, f"unknown coordinate system {value!r} (expected RAS, LPS, 0 or 1)")


def _read_fcsv(path: Path) -> LandmarkSet:
    header: dict[str, str] = {}
    rows = []
    for lineno, line in enumerate(_read_text(path).splitlines(), 1):
        if line.startswith("#"):
            m = _HEADER_RE.match(line)
            if m:
                header[m.group(1).lower()] = m.group(2)
        elif line.strip():
            rows.append((lineno, _csv_fields(path, line, lineno)))
    ras = _coordinate_system(path, header.get("coordinatesystem", "RAS"))  # Slicer's default is RAS
    columns = [c.strip() for c in header["columns"].split(",")] if "columns" in header else list(FCSV_COLUMNS)
    missing = [c for c in ("x", "y", "z", "label") if c not in columns]
    if missing:
        raise InputError(path, f"columns header lacks {', '.join(missing)}")
    col = {c: i for i, c in enumerate(columns)}
    extra_cols = [c for c in columns if c not in FCSV_COLUMNS]
    parsed = []
    for lineno, f in rows:
        if len(f) != len(columns):
            raise InputError(path, f"line {lineno}: {len(f)} fields, columns header has {len(columns)}")
        f = [restore_cell(c) for c in f]  # undo the writer's formula guard
        desc = f[col["desc"]] if "desc" in col else ""
        absent = desc.startswith(ABSENT_MARKER)
        if absent:
            desc = desc[len(ABSENT_MARKER):]
            desc = desc[1:] if desc.startswith(" ") else desc
        extra = {c: f[col[c]] for c in extra_cols}
        parsed.append(_Row(f"line {lineno}", f[col["label"]], [f[col[a]] for a in "xyz"],
                           False if absent else None, _own_description(desc, extra), extra))
    return _assemble(path, parsed, ras=ras)


def _write_fcsv(path: Path, lmset: LandmarkSet, description: str | None) -> Path:
    extra = _check_extra(lmset, FCSV_COLUMNS)
    head = ["# Markups fiducial file version = 4.11", "# CoordinateSystem = LPS",
            "# columns = " + ",".join(FCSV_COLUMNS + tuple(extra))]
    if description:
        head.insert(2, f"# description = {_one_line(description)}")
    rows = []
    for n, name in enumerate(lmset.names):
        desc = _slicer_description(lmset, n)
        if not lmset.present[n]:
            desc = f"{ABSENT_MARKER} {desc}" if desc else ABSENT_MARKER
        rows.append([str(n + 1), *(_fmt(c) for c in lmset.coords[n]), "0", "0", "0", "1",
                     "1" if lmset.present[n] else "0", "1" if _selected(lmset, n) else "0", "0", name, desc, "",
                     *(_fmt(_extra_value(lmset.extra, k, n)) for k in extra)])
    return _write_text(path, _csv_text(rows, head))


# --------------------------------------------------------------------------- JSON (both kinds)
def _load_json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise InputError(path, f"invalid JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    except RecursionError:
        raise InputError(path, "invalid JSON: nested too deeply") from None
    except ValueError as err:  # e.g. an integer of thousands of digits
        raise InputError(path, f"invalid JSON: {err}") from None


def _dump_json(path: Path, doc: Any) -> Path:
    return _write_text(path, json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def _expect(path: Path, value: Any, kind: type, what: str) -> Any:
    if not isinstance(value, kind):
        raise InputError(path, f"{what} must be a JSON {'object' if kind is dict else 'array'}")
    return value


def _units_scale(path: Path, units: Any) -> float:
    """mm per file unit (mm or um; Slicer may give a [code, scheme, meaning] triple)."""
    code = units[0] if isinstance(units, list) and units else units
    scale = {"mm": 1.0, "um": 1e-3}.get(code) if isinstance(code, str) else None
    if scale is None:
        raise InputError(path, f"unsupported coordinate units {units!r} (expected mm or um)")
    return scale


def _scaled(values: Sequence[Any], scale: float) -> list[Any]:
    """Numbers times ``scale``; anything else (and integers too large for a float) is left for
    ``_assemble`` to judge."""
    def one(v: Any) -> Any:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return v
        try:
            return v * scale
        except OverflowError:
            return v
    return [one(v) for v in values]


def _read_mrk_json(path: Path) -> LandmarkSet:
    doc = _expect(path, _load_json(path), dict, "top level")
    markups = _expect(path, doc.get("markups"), list, "'markups'")
    fiducials = [m for m in markups if isinstance(m, dict) and m.get("type") == "Fiducial"]
    if len(fiducials) != 1:
        raise InputError(path, f"expected one markup of type 'Fiducial', found {len(fiducials)}")
    markup = fiducials[0]
    ras = _coordinate_system(path, str(markup.get("coordinateSystem", "LPS")))
    scale = _units_scale(path, markup.get("coordinateUnits", "mm"))
    rows = []
    for n, cp in enumerate(_expect(path, markup.get("controlPoints", []), list, "'controlPoints'"), 1):
        where = f"control point {n}"
        _expect(path, cp, dict, where)
        pos = cp.get("position")
        if pos is None:
            pos = [None] * 3
        if not isinstance(pos, list) or len(pos) != 3:
            raise InputError(path, f"{where}: position must be a list of 3 numbers, got {pos!r}")
        status = cp.get("positionStatus", "defined")
        if status not in ("defined", "undefined", "preview"):
            raise InputError(path, f"{where}: unknown positionStatus {status!r}")
        extra = _read_flags({k: v for k, v in cp.items() if k not in _MRK_POINT_KEYS})
        desc = cp.get("description") or ""
        rows.append(_Row(where, cp.get("label"), _scaled(pos, scale), None if status == "defined" else False,
                         _own_description(desc, extra) if isinstance(desc, str) else desc, extra))
    return _assemble(path, rows, ras=ras)


def _write_mrk_json(path: Path, lmset: LandmarkSet, description: str | None) -> Path:
    extra = _check_extra(lmset, _MRK_POINT_KEYS)
    points = []
    for n, name in enumerate(lmset.names):
        cp: dict[str, Any] = {"id": str(n + 1), "label": name, "description": _slicer_description(lmset, n),
                              "associatedNodeID": ""}
        if np.all(np.isfinite(lmset.coords[n])):
            cp["position"] = [float(c) for c in lmset.coords[n]]
        cp.update(selected=_selected(lmset, n), locked=False, visibility=bool(lmset.present[n]),
                  positionStatus="defined" if lmset.present[n] else "undefined")
        cp.update({k: _extra_value(lmset.extra, k, n, json_out=True) for k in extra})
        points.append(cp)
    markup: dict[str, Any] = {"type": "Fiducial", "coordinateSystem": "LPS", "coordinateUnits": "mm"}
    if description:
        markup["description"] = _one_line(description)
    markup["controlPoints"] = points
    return _dump_json(path, {"@schema": MARKUPS_SCHEMA, "markups": [markup]})


_JSON_KEYS = ("name", "x", "y", "z", "present", "description", "desc")


def _read_plain_json(path: Path) -> LandmarkSet:
    doc = _expect(path, _load_json(path), dict, "top level")
    ras = _coordinate_system(path, str(doc.get("coordinate_system", "LPS")))
    scale = _units_scale(path, doc.get("units", "mm"))
    rows = []
    for n, lm in enumerate(_expect(path, doc.get("landmarks"), list, "'landmarks'"), 1):
        where = f"landmark {n}"
        _expect(path, lm, dict, where)
        rows.append(_Row(where, lm.get("name"), _scaled([lm.get(a) for a in "xyz"], scale), lm.get("present"),
                         lm.get("description", lm.get("desc")) or "",
                         _read_flags({k: v for k, v in lm.items() if k not in _JSON_KEYS})))
    return _assemble(path, rows, ras=ras)


def _write_plain_json(path: Path, lmset: LandmarkSet, description: str | None) -> Path:
    extra = _check_extra(lmset, _JSON_KEYS)
    landmarks = []
    for n, name in enumerate(lmset.names):
        lm = {"name": name, **{a: _json_value(float(c)) for a, c in zip("xyz", lmset.coords[n])},
              "present": bool(lmset.present[n]), "description": lmset.descriptions[n]}
        lm.update({k: _extra_value(lmset.extra, k, n, json_out=True) for k in extra})
        landmarks.append(lm)
    doc: dict[str, Any] = {"coordinate_system": "LPS", "units": "mm"}
    if description:
        doc["description"] = _one_line(description)
    doc["landmarks"] = landmarks
    return _dump_json(path, doc)


# --------------------------------------------------------------------------- dispatch
_Reader = Callable[[Path], LandmarkSet]
_Writer = Callable[[Path, LandmarkSet, "str | None"], Path]
_FORMATS: dict[str, tuple[_Reader, _Writer]] = {  # longest ending first: .mrk.json before .json
    ".mrk.json": (_read_mrk_json, _write_mrk_json),
    ".fcsv": (_read_fcsv, _write_fcsv),
    ".csv": (_read_csv, _write_csv),
    ".json": (_read_plain_json, _write_plain_json),
}


def _format(path: Path) -> tuple[_Reader, _Writer]:
    name = path.name.lower()
    for ending, funcs in _FORMATS.items():
        if name.endswith(ending):
            return funcs
    raise InputError(path, f"unknown landmark file type (expected a name ending in {', '.join(_FORMATS)})")


def read_landmarks(path: str | Path) -> LandmarkSet:
    """Read a landmark file (format from the name ending) into a ``LandmarkSet`` in LPS mm."""
    path = Path(path)
    if path.name.lower().endswith(".dcm"):  # a TID 1500 DICOM SR (data.dicom_sr)
        from data.dicom_sr import read_landmark_sr

        return read_landmark_sr(path)
    return _format(path)[0](path)


def write_landmarks(path: str | Path, lmset: LandmarkSet, *, description: str | None = None) -> Path:
    """Write ``lmset`` (LPS mm) atomically in the format given by the name ending; returns the path.

    ``description`` is an optional one-line note about the whole set (``.fcsv`` and JSON; CSV
    ignores it: see the module docstring).
    Raises ``InputError`` for an unknown ending, ``ValueError`` when an extra column would clash
    with one of the format's own columns.
    """
    path = Path(path)
    return _format(path)[1](path, lmset, description)
