"""Synthetic evaluation inputs with known error sizes (no scan, no model): for tests and examples.

``cascade_prediction`` makes what ``run_pipeline.py`` writes (final x, y, z plus ``phaseN_x/y/z``
and ``inside`` columns) from a true set with a chosen error SD per phase; ``simulated_rater``
jitters a true set like a second annotator; ``write_example`` writes a small set of cases.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from data.landmark_io import write_landmarks
from data.landmarks import LandmarkSet


def simulated_rater(truth: LandmarkSet, sd_mm: float, rng: np.random.Generator) -> LandmarkSet:
    """``truth`` with N(0, sd_mm) added to each coordinate; absent landmarks stay absent."""
    coords = truth.coords + rng.normal(0.0, sd_mm, truth.coords.shape)
    return LandmarkSet(truth.names, coords, truth.present.copy())


def cascade_prediction(truth: LandmarkSet, phase_sd_mm: Sequence[float], rng: np.random.Generator,
                       outside: Sequence[str] = ()) -> LandmarkSet:
    """A run_pipeline-style prediction: phase p is the truth plus N(0, phase_sd_mm[p]) per coordinate.

    Every landmark gets an estimate (absent true points are predicted near their stored
    coordinates, or the origin when unknown); ``outside`` names final estimates flagged outside
    the scan (``inside = no``, ``present = no``, as run_pipeline.py writes them).
    """
    base = np.where(np.isfinite(truth.coords), truth.coords, 0.0)
    est = np.stack([base + rng.normal(0.0, sd, base.shape) for sd in phase_sd_mm])
    inside = np.array([n not in outside for n in truth.names])
    extra = {f"phase{p}_{a}": list(est[p - 1][:, i]) for p in range(1, len(est) + 1) for i, a in enumerate("xyz")}
    extra["inside"] = ["yes" if v else "no" for v in inside]
    return LandmarkSet(truth.names, est[-1].copy(), inside, extra=extra)


def random_truth(names: Sequence[str], rng: np.random.Generator, absent: Sequence[str] = ()) -> LandmarkSet:
    """Points spread over a head-sized box (+-80 mm); ``absent`` names are marked absent (no coordinates)."""
    coords = rng.uniform(-80.0, 80.0, (len(names), 3))
    present = np.array([n not in absent for n in names])
    coords[~present] = np.nan
    return LandmarkSet(list(names), coords, present)


def write_example(folder: str | Path, cases: int = 4, names: Sequence[str] = ("S", "N", "Ba", "ANS", "Me", "PoR"),
                  phase_sd_mm: Sequence[float] = (6.0, 2.5, 1.0), rater_sd_mm: float = 0.7,
                  seed: int = 0) -> dict[str, Path]:
    """Cases ``case0..``: ``truth/<case>.fcsv``, ``pred/<case>/landmarks.csv``, ``rater2/<case>.mrk.json``.

    In ``case0`` the last landmark is absent from the truth; in ``case1`` the first landmark's
    final estimate is outside the scan. Returns the three folders.
    """
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    for c in range(cases):
        case = f"case{c}"
        truth = random_truth(names, rng, absent=names[-1:] if c == 0 else ())
        write_landmarks(folder / "truth" / f"{case}.fcsv", truth)
        pred = cascade_prediction(truth, phase_sd_mm, rng, outside=names[:1] if c == 1 else ())
        write_landmarks(folder / "pred" / case / "landmarks.csv", pred)
        write_landmarks(folder / "rater2" / f"{case}.mrk.json", simulated_rater(truth, rater_sd_mm, rng))
    return {k: folder / k for k in ("truth", "pred", "rater2")}
