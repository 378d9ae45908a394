"""The prediction file's schema and the phase labels, owned here and nowhere else.

A prediction (``landmarks.csv`` and the other formats ``run_pipeline.py`` writes) is a landmark
set whose final points are the last phase's estimates, with extra columns: the voxel index
``k, i, j`` of the final point, each phase's estimate ``phase1_x .. phase3_z`` (LPS mm) and
``inside`` (``yes``/``no``: whether the final estimate lies inside the scanned volume).

Phases are labelled ``phase1``, ``phase2``, ``phase3`` everywhere (error tables, summaries,
reports); a landmark file without per-phase columns (a rater's) is one phase, ``final``.
"""
from __future__ import annotations

import re
from typing import Iterable, Mapping, Sequence

import numpy as np

AXES = ("x", "y", "z")
VOXEL_COLUMNS = ("k", "i", "j")
INSIDE = "inside"
FINAL = "final"
YES, NO = "yes", "no"
_PHASE_COL = re.compile(r"^phase(\d+)_([xyz])$")


def phase_label(phase: int) -> str:
    """``phase1`` for 1 (the label of a phase in every table)."""
    return f"phase{int(phase)}"


def phase_columns(phase: int) -> list[str]:
    """``phaseN_x``, ``phaseN_y``, ``phaseN_z``."""
    return [f"{phase_label(phase)}_{a}" for a in AXES]


def yes_no(flags: Iterable[bool]) -> list[str]:
    """Booleans as the files write them (``yes``/``no``)."""
    return [YES if bool(v) else NO for v in flags]


def prediction_columns(estimates: np.ndarray, inside: np.ndarray, voxel: np.ndarray | None = None) -> dict[str, list]:
    """Extra columns of a prediction: voxel index (if given), each phase's estimate, ``inside``.

    ``estimates`` (phases, N, 3) LPS mm; ``inside`` (N,) for the final estimate; ``voxel`` (N, 3)."""
    extra: dict[str, list] = {}
    if voxel is not None:
        extra.update({c: list(voxel[:, a]) for a, c in enumerate(VOXEL_COLUMNS)})
    for p, est in enumerate(np.asarray(estimates, float), 1):
        extra.update({col: list(est[:, a]) for a, col in enumerate(phase_columns(p))})
    extra[INSIDE] = yes_no(inside)
    return extra


def phases_in(columns: Mapping | Sequence[str]) -> list[int]:
    """Phase numbers whose three ``phaseN_x/y/z`` columns are all present, in order."""
    cols = set(columns)
    numbers = sorted({int(m.group(1)) for k in cols if (m := _PHASE_COL.match(str(k)))})
    return [p for p in numbers if all(c in cols for c in phase_columns(p))]
