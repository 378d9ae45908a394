"""Landmark-set definitions kept as data: ``data/landmark_sets/<name>.csv``.

Each CSV has columns ``name,full_name,definition,pair``; ``pair`` names the bilateral partner
(empty for midline landmarks) and must be symmetric. Built-in sets: ``craniofacial16`` (CT
cephalometric points) and ``afids32`` (the 32 anatomical fiducials, names "1".."32" as in the
AFIDs ``.fcsv`` files, full names from their ``desc`` column).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data.errors import InputError
from data.landmarks import name_index

SETS_DIR = Path(__file__).resolve().parent / "landmark_sets"
COLUMNS = ("name", "full_name", "definition", "pair")


@dataclass
class LandmarkDefinition:
    """An ordered landmark set: ``names``, ``full_names``, one-sentence ``definitions`` and
    ``pairs`` mapping each bilateral landmark to its partner (both directions; midline omitted)."""

    names: list[str]
    full_names: list[str]
    definitions: list[str]
    pairs: dict[str, str] = field(default_factory=dict)
    name: str = ""

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Position of landmark ``name`` (KeyError if not in the set)."""
        return name_index(self.names, name, f"set {self.name or '(unnamed)'}")

    def flip_permutation(self) -> np.ndarray:
        """Index permutation swapping left/right partners (midline points map to themselves).

        After mirroring an image left-right, landmark ``i`` of the flipped image is the mirrored
        landmark ``perm[i]`` of the original: ``flipped_coords = mirrored_coords[perm]``. The
        permutation is its own inverse.
        """
        return np.array([self.index(self.pairs.get(n, n)) for n in self.names], dtype=int)


def list_definitions() -> list[str]:
    """Names of the built-in landmark sets."""
    return sorted(p.stem for p in SETS_DIR.glob("*.csv"))


def load_definition(name_or_path: str | Path) -> LandmarkDefinition:
    """Load a built-in set by name (``"craniofacial16"``, ``"afids32"``) or a definition CSV by path."""
    text = str(name_or_path)
    if isinstance(name_or_path, str) and not text.lower().endswith(".csv") and "/" not in text and "\\" not in text:
        path = SETS_DIR / f"{text}.csv"
        if not path.is_file():
            raise InputError(text, f"unknown landmark set (built-in: {', '.join(list_definitions())})")
        return _read_definition(path)
    return _read_definition(Path(name_or_path))


def _read_definition(path: Path) -> LandmarkDefinition:
    """Parse and validate one definition CSV (InputError naming the file and the problem)."""
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in reader.fieldnames or []]
            rows = [(reader.line_num, r) for r in reader]
    except (UnicodeDecodeError, csv.Error) as err:
        raise InputError(path, f"cannot parse definition CSV: {err}") from None
    if not header:
        raise InputError(path, "file is empty")
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)} (need {','.join(COLUMNS)})")
    names, full, definitions, partner = [], [], [], {}
    for line, raw in rows:
        if None in raw:
            raise InputError(path, f"line {line}: more fields than the header (quote text containing commas)")
        row = {k.strip(): (v or "").strip() for k, v in raw.items()}
        if not row["name"]:
            raise InputError(path, f"line {line}: empty landmark name")
        if row["name"] in names:
            raise InputError(path, f"line {line}: duplicate landmark name {row['name']!r}")
        names.append(row["name"])
        full.append(row["full_name"])
        definitions.append(row["definition"])
        if row["pair"]:
            partner[row["name"]] = row["pair"]
    if not names:
        raise InputError(path, "no landmarks defined")
    for a, b in partner.items():
        if b not in names:
            raise InputError(path, f"landmark {a!r}: pair {b!r} is not a landmark of this set")
        if a == b:
            raise InputError(path, f"landmark {a!r} is paired with itself")
        if partner.get(b) != a:
            raise InputError(path, f"pairs not symmetric: {a!r} -> {b!r} but {b!r} -> {partner.get(b, '')!r}")
    return LandmarkDefinition(names, full, definitions, partner, path.stem)
