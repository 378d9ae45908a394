"""How far off each landmark may be: the measurements behind ``uncertainty_mm`` and ``review``.

Per landmark, from one prediction (``cascade.predict.Cascade.predict``):

* ``shift_mm``: test-time shifts of the last local phase. Its crop is taken again around the
  previous phase's estimate moved by +-``TTA_SHIFT`` of the phase's training shift range along each
  of the scan's three axes (6 more crops per landmark, one batch); ``shift_mm`` is the RMS distance
  of those 7 answers from their mean. A crop that sees its landmark gives the same answer from
  every start; one that does not wanders with the start.
* ``atlas_mm``: with the atlas coarse stage, the RMS distance of the atlases' estimates from the
  fused one (how much the labelled heads disagree about where the landmark is).
* ``shape_mm``: how far the point is from where the other points put it: each labelled head of the
  bundle (its atlases) is fitted onto the predicted points by a similarity (refitted on the 75 %
  best-fitting landmarks, so a few wrong points do not drag it), and ``shape_mm`` is the median
  over heads of the point's distance from the fitted head's landmark. A crop that locked onto the
  wrong structure gives a consistent answer (small ``shift_mm``) far from the rest of the face.
* ``move_mm``: how far the last phase moved the point, against that phase's training shift range
  (a move beyond the range means the crop started outside what it was trained to correct).

``uncertainty_mm`` = ``scale * sqrt(shift_mm**2 + atlas_weight * atlas_mm**2 + shape_weight *
shape_mm**2)``, with ``scale`` and the weights of :class:`Calibration`, measured on validation data (``bench/confidence.py``,
``bench/RESULTS.md``) so that the error is below ``uncertainty_mm`` for about :data:`COVERAGE` of
landmarks; ``review`` is ``uncertainty_mm > review_mm`` (default :data:`REVIEW_MM`) or a move beyond
the training range. ``uncertainty_mm`` is a stated interval, not a guarantee: see the measured
coverage in ``bench/RESULTS.md``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

TTA_SHIFT = 0.5  # test-time start shifts, as a fraction of the phase's training shift range
COVERAGE = 0.9  # the share of landmarks whose error the calibrated uncertainty should cover
REVIEW_MM = 4.0  # default review threshold on uncertainty_mm


@dataclass(frozen=True)
class Calibration:
    """``uncertainty_mm = scale * sqrt(shift_mm**2 + atlas_weight * atlas_mm**2 + shape_weight * shape_mm**2)``;
    review above ``review_mm``."""

    scale: float = 1.0
    atlas_weight: float = 1.0
    shape_weight: float = 1.0
    review_mm: float = REVIEW_MM

    def combine(self, shift_mm: np.ndarray, atlas_mm: np.ndarray, shape_mm: np.ndarray) -> np.ndarray:
        """The uncertainty (mm) from the three measurements (same shapes)."""
        return self.scale * np.sqrt(np.square(shift_mm) + self.atlas_weight * np.square(atlas_mm)
                                    + self.shape_weight * np.square(shape_mm))


def start_offsets(directions: np.ndarray, shift_mm: float) -> np.ndarray:
    """(6, 3) LPS offsets: +-``TTA_SHIFT * shift_mm`` along each of the scan's index axes
    (``directions``: 3x3, columns = the unit LPS direction of k, i, j)."""
    d = TTA_SHIFT * float(shift_mm)
    axes = np.asarray(directions, float).T
    return np.concatenate([d * axes, -d * axes])


def rms_spread(points: np.ndarray) -> np.ndarray:
    """(N,) RMS distance of (K, N, 3) answers from their mean (NaN where any is missing)."""
    pts = np.asarray(points, float)
    return np.sqrt(np.mean(np.sum((pts - pts.mean(0)) ** 2, axis=-1), axis=0))


def atlas_spread(per_atlas: np.ndarray | None, fused: np.ndarray) -> np.ndarray:
    """(N,) RMS distance of the atlases' (A, N, 3) estimates from the fused (N, 3) one; zeros
    without atlases or with one (no disagreement to measure), NaN-safe per landmark."""
    fused = np.asarray(fused, float)
    if per_atlas is None or len(per_atlas) < 2:
        return np.zeros(len(fused))
    d2 = np.sum((np.asarray(per_atlas, float) - fused) ** 2, axis=-1)
    with np.errstate(invalid="ignore"):
        counts = np.sum(np.isfinite(d2), axis=0)
        out = np.sqrt(np.nansum(d2, axis=0) / np.maximum(counts, 1))
    return np.where(counts > 0, out, 0.0)


def similarity(source: np.ndarray, target: np.ndarray):
    """The least-squares similarity (rotation, one scale, translation; Umeyama 1991) mapping the
    (M, 3) ``source`` points onto ``target``, as a function of (N, 3) points."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    a, b = source - mu_s, target - mu_t
    u, sig, vt = np.linalg.svd(b.T @ a / len(a))
    d = np.ones(3)
    d[-1] = np.sign(np.linalg.det(u @ vt)) or 1.0
    rot = u @ np.diag(d) @ vt
    scale = float(np.sum(sig * d) / max(np.mean(np.sum(a ** 2, axis=1)), 1e-12))
    return lambda x: scale * (np.asarray(x, float) - mu_s) @ rot.T + mu_t


def shape_residual(points: np.ndarray, reference: np.ndarray, keep: float = 0.75, rounds: int = 3) -> np.ndarray:
    """(N,) distance of each point from a reference shape (N, 3; NaN = missing) fitted onto
    ``points`` by a similarity, refitted ``rounds`` times on the ``keep`` share of best-fitting
    landmarks (so a few wrong points do not drag the fit). NaN where either lacks the landmark."""
    pts, ref = np.asarray(points, float), np.asarray(reference, float)
    ok = np.all(np.isfinite(pts), axis=1) & np.all(np.isfinite(ref), axis=1)
    out = np.full(len(pts), np.nan)
    if ok.sum() < 4:
        return out
    use = ok.copy()
    for _ in range(rounds):
        move = similarity(ref[use], pts[use])
        out[ok] = np.linalg.norm(move(ref[ok]) - pts[ok], axis=1)
        use = ok & (out <= np.quantile(out[ok], keep))
    return out


def reference_shapes(heads: list, names: list[str]) -> list[np.ndarray]:
    """(N, 3) coordinates of each labelled head's landmarks (``LandmarkSet``) in ``names`` order,
    NaN where a head lacks one: the references of :func:`shape_spread`."""
    shapes = [h.subset(names, missing_ok=True) for h in heads]
    return [np.where(s.present[:, None], s.coords, np.nan) for s in shapes]


def shape_spread(points: np.ndarray, references: list[np.ndarray]) -> np.ndarray:
    """(N,) median over reference shapes of :func:`shape_residual` (zeros without references):
    how far each point is from where the other points say it should be."""
    if not references:
        return np.zeros(len(points))
    res = np.stack([shape_residual(points, r) for r in references])
    with warnings.catch_warnings():  # a landmark no reference has: NaN, then 0
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(res, axis=0)
    return np.nan_to_num(med, nan=0.0)


@dataclass
class Confidence:
    """The per-landmark measurements (mm) and what they add up to."""

    shift_mm: np.ndarray  # (N,)
    atlas_mm: np.ndarray  # (N,)
    shape_mm: np.ndarray  # (N,)
    move_mm: np.ndarray  # (N,)
    move_limit_mm: float  # the last phase's training shift range (per axis), as a 3D distance
    calibration: Calibration

    @property
    def uncertainty_mm(self) -> np.ndarray:
        return self.calibration.combine(self.shift_mm, self.atlas_mm, self.shape_mm)

    @property
    def moved_too_far(self) -> np.ndarray:
        return self.move_mm > self.move_limit_mm

    @property
    def review(self) -> np.ndarray:
        """(N,) bool: check this point by hand."""
        return (self.uncertainty_mm > self.calibration.review_mm) | self.moved_too_far

    def reasons(self) -> list[str]:
        """Why each flagged landmark is flagged ('' for the others)."""
        limit = self.calibration.review_mm
        out = []
        for u, far, m in zip(self.uncertainty_mm, self.moved_too_far, self.move_mm):
            parts = [f"uncertainty {u:.1f} mm > {limit:g} mm"] if u > limit else []
            if far:
                parts.append(f"last phase moved it {m:.1f} mm (trained for up to {self.move_limit_mm:.1f} mm)")
            out.append("; ".join(parts))
        return out
