"""The prediction file's schema and the phase labels, owned here and nowhere else.

A prediction (``landmarks.csv`` and the other formats ``run_pipeline.py`` writes) is a landmark
set whose final points are the last phase's estimates, with extra columns, in this order: the voxel
index ``k, i, j`` of the final point, each phase's estimate ``phase1_x .. phase3_z`` (LPS mm),
``inside`` (yes/no: whether the final estimate lies inside the scanned volume; a JSON boolean in
``.json`` / ``.mrk.json``), ``state`` (one of :data:`STATES`, the same spelling in every file) and
``note`` (a short reason for a state other than ``ok``, e.g. ``1.5 mm below the first slice`` or
``12 mm from the nearest bone (threshold 10 mm)``; empty for ``ok``), ``review`` (yes/no: yes for
every state other than ``ok``) and ``uncertainty_mm`` (``cascade.confidence``: the error is below
it for about 90 % of landmarks on validation data).

Every prediction has a point (``present`` = yes), also outside the scan or far from bone: the
estimate is kept where the model put it, never clipped. ``absent`` (no point, ``present`` = no) is
for landmark files without a point (truth, raters) and for a missing estimate. The Slicer files
place every present point; those whose state is not ``ok`` are written unselected, with
``"<state>: <note>"`` at the start of their description (``data.landmark_io``).

Coordinates (``x, y, z``, the phase columns and ``k, i, j``) are rounded to :data:`COORD_DECIMALS`
decimals (``Prediction.landmark_set``), the same numbers in every format.

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
STATE, NOTE = "state", "note"
OK, OUTSIDE_SCAN, FAR_FROM_BONE, UNCERTAIN, ABSENT = "ok", "outside_scan", "far_from_bone", "uncertain", "absent"
STATES = {
    OK: "a point inside the scan (and, on CT, near bone) whose uncertainty is below the review threshold",
    OUTSIDE_SCAN: "the estimate lies outside the scanned volume: kept where the model put it, never clipped",
    FAR_FROM_BONE: "CT: the estimate lies inside the scan but far from any bone (e.g. in the air in front of the face)",
    UNCERTAIN: "the estimate's uncertainty (cascade.confidence) is above the review threshold: check it by hand",
    ABSENT: "no point (a landmark file that does not place this landmark)",
}
UNCERTAINTY, REVIEW = "uncertainty_mm", "review"  # columns: uncertainty in mm; yes when the state is not ok
COORD_DECIMALS = 4  # 0.1 micrometre: far below any scanner's resolution, short enough to read
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


def prediction_columns(estimates: np.ndarray, inside: np.ndarray, voxel: np.ndarray | None = None,
                       states: Sequence[str] | None = None, notes: Sequence[str] | None = None,
                       uncertainty: Sequence[float] | None = None) -> dict[str, list]:
    """Extra columns of a prediction: voxel index (if given), each phase's estimate, ``inside``,
    and (if given) ``state``, ``note``, ``review``, then ``uncertainty_mm``, in that order (the
    file's column order).

    ``estimates`` (phases, N, 3) LPS mm; ``inside`` (N,) for the final estimate; ``voxel`` (N, 3);
    ``states`` (N,) values of :data:`STATES`; ``notes`` (N,) text ('' for ``ok``);
    ``uncertainty`` (N,) mm. ``review`` is ``yes`` for every state other than ``ok``."""
    extra: dict[str, list] = {}
    if voxel is not None:
        extra.update({c: list(voxel[:, a]) for a, c in enumerate(VOXEL_COLUMNS)})
    for p, est in enumerate(np.asarray(estimates, float), 1):
        extra.update({col: list(est[:, a]) for a, col in enumerate(phase_columns(p))})
    extra[INSIDE] = yes_no(inside)
    if states is not None:
        unknown = sorted(set(states) - set(STATES))
        if unknown:
            raise ValueError(f"unknown landmark state(s) {unknown}; expected one of {', '.join(STATES)}")
        extra[STATE] = list(states)
        extra[NOTE] = [str(n) for n in (notes if notes is not None else [""] * len(states))]
        extra[REVIEW] = yes_no(flagged(s) for s in states)
    if uncertainty is not None:
        extra[UNCERTAINTY] = [float(u) for u in uncertainty]
    return extra


def flagged(state: str | None) -> bool:
    """Whether a landmark's ``state`` marks its point as doubtful (recorded and not ``ok``)."""
    return bool(state) and str(state).strip() not in ("", OK)


def phases_in(columns: Mapping | Sequence[str]) -> list[int]:
    """Phase numbers whose three ``phaseN_x/y/z`` columns are all present, in order."""
    cols = set(columns)
    numbers = sorted({int(m.group(1)) for k in cols if (m := _PHASE_COL.match(str(k)))})
    return [p for p in numbers if all(c in cols for c in phase_columns(p))]
