"""A landmark set: ordered names, LPS-mm coordinates and a per-point "present" flag.

Absent landmarks (outside the field of view, not annotated) have ``present == False``; their
coordinates may be NaN or a best guess and must not be used as truth.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np


def name_index(names: Sequence[str], name: str, context: str) -> int:
    """Position of ``name`` in ``names``; KeyError naming ``context`` when it is not there."""
    try:
        return list(names).index(name)
    except ValueError:
        raise KeyError(f"landmark {name!r} not in {context}") from None


@dataclass
class LandmarkSet:
    """``names`` (N,), ``coords`` (N, 3) in LPS mm, ``present`` (N,) bool.

    ``descriptions`` (optional, N strings) carries free text such as Slicer's ``desc`` column;
    ``extra`` maps column names to per-landmark values (N,) that CSV/JSON writers add as columns.
    """

    names: list[str]
    coords: np.ndarray
    present: np.ndarray | None = None
    descriptions: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.names = [str(n) for n in self.names]
        self.coords = np.asarray(self.coords, dtype=float).reshape(-1, 3)
        n = len(self.names)
        if self.coords.shape[0] != n:
            raise ValueError(f"{n} names but {self.coords.shape[0]} coordinates")
        if len(set(self.names)) != n:
            dup = sorted({x for x in self.names if self.names.count(x) > 1})
            raise ValueError(f"duplicate landmark names: {', '.join(dup)}")
        if self.present is None:
            self.present = np.all(np.isfinite(self.coords), axis=1)
        self.present = np.asarray(self.present, dtype=bool).reshape(n)
        if self.descriptions is None:
            self.descriptions = [""] * n
        self.descriptions = ["" if d is None else str(d) for d in self.descriptions]
        if len(self.descriptions) != n:
            raise ValueError(f"{n} names but {len(self.descriptions)} descriptions")
        for key, val in self.extra.items():
            if len(val) != n:
                raise ValueError(f"extra column {key!r} has {len(val)} values for {n} landmarks")

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Position of ``name`` in the set (KeyError naming the set's landmarks if absent)."""
        return name_index(self.names, name, f"set ({', '.join(self.names)})")

    def __getitem__(self, name: str) -> np.ndarray:
        """LPS coordinates of one landmark."""
        return self.coords[self.index(name)]

    def as_dict(self, only_present: bool = True) -> dict[str, np.ndarray]:
        """``{name: xyz}``, by default only for present landmarks."""
        return {n: c for n, c, p in zip(self.names, self.coords, self.present) if p or not only_present}

    def subset(self, names: Sequence[str], missing_ok: bool = False) -> "LandmarkSet":
        """The landmarks ``names`` in that order; with ``missing_ok`` unknown names become absent (NaN)."""
        coords, present, desc = [], [], []
        extra: dict[str, list] = {k: [] for k in self.extra}
        for name in names:
            if name in self.names:
                i = self.names.index(name)
                coords.append(self.coords[i])
                present.append(self.present[i])
                desc.append(self.descriptions[i])
                for k in extra:
                    extra[k].append(self.extra[k][i])
            elif missing_ok:
                coords.append([np.nan] * 3)
                present.append(False)
                desc.append("")
                for k in extra:
                    extra[k].append(None)
            else:
                self.index(name)  # raises KeyError with a clear message
        return LandmarkSet(list(names), np.array(coords, float).reshape(-1, 3), np.array(present, bool), desc,
                           {k: list(v) for k, v in extra.items()})

    def rounded(self, decimals: int) -> "LandmarkSet":
        """A copy with coordinates and every numeric (non-bool) extra value rounded to ``decimals``
        decimals (NaN stays NaN, -0.0 becomes 0.0); text, flags and None are kept as they are."""
        def one(v: Any) -> Any:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                return v
            return round(float(v), decimals) + 0.0 if isinstance(v, (float, np.floating)) else v
        return LandmarkSet(list(self.names), np.round(self.coords, decimals) + 0.0, self.present.copy(),
                           list(self.descriptions), {k: [one(v) for v in vals] for k, vals in self.extra.items()})

    def equals(self, other: "LandmarkSet", atol: float = 1e-6) -> bool:
        """Same names, same present flags, same coordinates of present points within ``atol`` mm."""
        if self.names != other.names or not np.array_equal(self.present, other.present):
            return False
        p = self.present
        return bool(np.allclose(self.coords[p], other.coords[p], atol=atol, rtol=0))
