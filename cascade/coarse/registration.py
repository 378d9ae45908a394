"""Baseline "what users do today": register an annotated template to a subject, carry its landmarks.

    from cascade.coarse.registration import register_landmarks
    predicted, info = register_landmarks(subject, template, template_landmarks, mode="bspline")

SimpleITK registration of ``moving`` (the template) to ``fixed`` (the subject):

* ``Volume`` -> ``sitk.Image`` with origin, spacing and direction in LPS, which is ITK's physical
  frame (``volume_to_sitk``; our ``[k, i, j]`` array is ITK index ``(j, i, k)``);
* centred transform initialiser (image moments, or geometry), then a rigid (versor) and an affine
  stage, each multi-resolution (shrink 4, 2, 1 with Gaussian smoothing 2, 1, 0 mm), Mattes mutual
  information on a seeded random sample of the voxels (10 % by default), regular-step gradient
  descent with scales from physical shifts;
* ``mode="bspline"`` adds a cubic B-spline optimised with L-BFGS-B on top of the affine (shrink
  4, 2): its mesh has one interval per ~22 mm of the subject's field of view (8-10 per axis for a
  brain MRI), or ``bspline_mesh`` intervals per axis.

The registration transform ``T`` maps *fixed* physical points to *moving* physical points
(``T(x) = A(B(x))``: B-spline first, then affine). Landmarks go the other way, ``x = T^-1(p)``:
the affine is inverted exactly (``GetInverse``); the B-spline ``B(x) = x + d(x)`` is inverted
numerically by fixed-point iteration ``x <- y - d(x)`` with ``y = A^-1(p)`` (a contraction
while the deformation's Jacobian stays well away from folding), stopped when a step is below
1e-5 mm; ``info["inverse_residual_mm"]`` is the largest ``|T(x) - p|`` over the landmarks.

Reproducibility: the metric's random sample is seeded (``seed``; ITK's own seed 0 would mean
"wall clock", so ``seed + 1`` is passed). With ``threads=1`` results are bit-identical from run
to run; with more threads ITK's parallel sums differ in the last digits (landmarks move by
~0.01 mm between runs on MNI -> Colin27).
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from typing import Any, Iterator, Sequence

import numpy as np
import SimpleITK as sitk

from data.landmarks import LandmarkSet
from data.volume import Volume

MODES = ("affine", "bspline")
_INVERSE_STEP_MM = 1e-5
_INVERSE_MAX_ITER = 200


# --------------------------------------------------------------------------- Volume <-> sitk
def volume_to_sitk(volume: Volume, dtype: Any = np.float32) -> sitk.Image:
    """``Volume`` -> ``sitk.Image`` (values cast to ``dtype``): ITK index (x, y, z) = our (j, i, k),
    so ITK's spacing/direction columns are the affine's columns 2, 1, 0; physical = LPS mm."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.array, dtype=dtype))  # array [z, y, x] = [k, i, j]
    cols = volume.affine[:3, [2, 1, 0]]
    spacing = np.linalg.norm(cols, axis=0)
    image.SetSpacing([float(s) for s in spacing])
    image.SetDirection([float(v) for v in (cols / spacing).ravel()])  # row-major 3x3
    image.SetOrigin([float(v) for v in volume.affine[:3, 3]])
    return image


def sitk_to_volume(image: sitk.Image) -> Volume:
    """``sitk.Image`` (3D) -> ``Volume`` with the same voxels and LPS geometry."""
    if image.GetDimension() != 3:
        raise ValueError(f"expected a 3D image, got {image.GetDimension()}D")
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    cols = direction * np.asarray(image.GetSpacing(), float)  # columns: x, y, z index steps
    affine = np.eye(4)
    affine[:3, :3] = cols[:, [2, 1, 0]]
    affine[:3, 3] = image.GetOrigin()
    return Volume(sitk.GetArrayFromImage(image), affine)


# --------------------------------------------------------------------------- options
@dataclass(frozen=True)
class RegistrationOptions:
    """Settings of ``register``. ``init``: "moments" or "geometry" (centred initialiser);
    ``sampling``: fraction of voxels the metric samples at random (seeded); ``shrink`` /
    ``smoothing_mm``: pyramid of the rigid and affine stages; ``bspline_shrink`` /
    ``bspline_smoothing_mm``: of the B-spline stage; ``iterations``: per level, rigid and affine;
    ``bspline_mesh``: control-mesh intervals per axis, default one per ``bspline_spacing_mm`` of
    the fixed image's extent; ``bins``: Mattes histogram bins."""

    init: str = "moments"
    sampling: float = 0.05
    bins: int = 50
    shrink: tuple[int, ...] = (4, 2, 1)
    smoothing_mm: tuple[float, ...] = (2.0, 1.0, 0.0)
    iterations: int = 200
    rigid: bool = True
    bspline_mesh: int | None = None
    bspline_spacing_mm: float = 22.0
    bspline_shrink: tuple[int, ...] = (4, 2)
    bspline_smoothing_mm: tuple[float, ...] = (2.0, 1.0)
    bspline_iterations: int = 50


@contextmanager
def _threads(n: int) -> Iterator[None]:
    """Set SimpleITK's global default thread count for the block, then restore it."""
    old = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(int(n))
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(old)


@contextmanager
def single_threaded_itk() -> Iterator[None]:
    """ITK's global default thread count 1 for the block, for callers that run several
    single-threaded registrations in parallel Python threads (``register(threads=1)`` inside then
    leaves the global setting alone)."""
    with _threads(1):
        yield


def _mesh_size(image: sitk.Image, opt: RegistrationOptions) -> list[int]:
    """B-spline mesh intervals per ITK axis: ``bspline_mesh``, or one per ``bspline_spacing_mm``."""
    if opt.bspline_mesh is not None:
        return [int(opt.bspline_mesh)] * 3
    extent = np.asarray(image.GetSize(), float) * np.asarray(image.GetSpacing(), float)
    return [max(1, int(round(e / opt.bspline_spacing_mm))) for e in extent]


def _itk_seed(seed: int) -> int:
    """ITK's sampling seed for ``seed`` >= 0: never 0, which ITK takes as "seed from the wall clock"."""
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return int(seed) % 0xFFFFFFFF + 1


def _method(opt: RegistrationOptions, seed: int, threads: int, shrink: Sequence[int],
            smoothing: Sequence[float]) -> sitk.ImageRegistrationMethod:
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=opt.bins)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(float(opt.sampling), _itk_seed(seed))
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetShrinkFactorsPerLevel([int(s) for s in shrink])
    reg.SetSmoothingSigmasPerLevel([float(s) for s in smoothing])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    reg.SetNumberOfThreads(int(threads))
    return reg


def _linear_stage(fixed: sitk.Image, moving: sitk.Image, initial: sitk.Transform, opt: RegistrationOptions,
                  seed: int, threads: int) -> tuple[sitk.Transform, dict]:
    reg = _method(opt, seed, threads, opt.shrink, opt.smoothing_mm)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-4, numberOfIterations=opt.iterations,
                                                 relaxationFactor=0.5, gradientMagnitudeTolerance=1e-8)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetInitialTransform(initial, inPlace=False)
    return _single(reg.Execute(fixed, moving)), _report(reg)


def _single(t: sitk.Transform) -> sitk.Transform:
    """The concrete transform (a composite of one unwrapped)."""
    t = t.Downcast()
    if isinstance(t, sitk.CompositeTransform) and t.GetNumberOfTransforms() == 1:
        t = t.GetNthTransform(0).Downcast()
    return t


def _report(reg: sitk.ImageRegistrationMethod) -> dict:
    return dict(metric=float(reg.GetMetricValue()), iterations=int(reg.GetOptimizerIteration()),
                stop=reg.GetOptimizerStopConditionDescription())


def _affine_from(t: sitk.Transform) -> sitk.AffineTransform:
    """An ``AffineTransform`` equal to a rigid/versor/affine transform (same centre)."""
    t = _single(t)
    out = sitk.AffineTransform(3)
    out.SetCenter(t.GetCenter())
    out.SetMatrix(t.GetMatrix())
    out.SetTranslation(t.GetTranslation())
    return out


# --------------------------------------------------------------------------- registration
def register(fixed: Volume, moving: Volume, mode: str = "affine", *, threads: int | None = None, seed: int = 0,
             options: RegistrationOptions | None = None, initial: sitk.Transform | None = None,
             **changes: Any) -> tuple[sitk.Transform, dict]:
    """Register ``moving`` to ``fixed``. Returns the transform (fixed physical -> moving physical,
    LPS mm) and a JSON-friendly dict: seconds per stage (``*_s``), final metric, iterations and
    stop condition per stage, and the settings used. ``threads`` defaults to all cores.
    ``initial``: a starting transform (fixed -> moving) instead of the centred initialiser; an
    affine one skips the rigid stage."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    opt = replace(options or RegistrationOptions(), **changes)
    if opt.init not in ("moments", "geometry"):
        raise ValueError(f"init must be 'moments' or 'geometry', got {opt.init!r}")
    threads = int(threads or os.cpu_count() or 1)
    info: dict[str, Any] = dict(mode=mode, threads=threads, seed=seed,
                                options={f.name: getattr(opt, f.name) for f in fields(opt)})
    t0 = time.perf_counter()
    with _threads(threads):
        fixed_img, moving_img = volume_to_sitk(fixed), volume_to_sitk(moving)
        t1 = time.perf_counter()
        info["convert_s"] = t1 - t0
        how = (sitk.CenteredTransformInitializerFilter.MOMENTS if opt.init == "moments"
               else sitk.CenteredTransformInitializerFilter.GEOMETRY)
        transform: sitk.Transform = initial if initial is not None else sitk.CenteredTransformInitializer(
            fixed_img, moving_img, sitk.VersorRigid3DTransform(), how)
        info["init_s"] = time.perf_counter() - t1
        if opt.rigid and not isinstance(transform, sitk.AffineTransform):
            t1 = time.perf_counter()
            transform, info["rigid"] = _linear_stage(fixed_img, moving_img, transform, opt, seed, threads)
            info["rigid_s"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        affine, info["affine"] = _linear_stage(fixed_img, moving_img, _affine_from(transform), opt, seed, threads)
        affine = _affine_from(affine)
        info["affine_s"] = time.perf_counter() - t1
        transform = affine
        if mode == "bspline":
            t1 = time.perf_counter()
            mesh = _mesh_size(fixed_img, opt)
            info["bspline_mesh"] = mesh
            bspline = sitk.BSplineTransformInitializer(fixed_img, mesh, 3)
            reg = _method(opt, seed, threads, opt.bspline_shrink, opt.bspline_smoothing_mm)
            reg.SetOptimizerAsLBFGSB(gradientConvergenceTolerance=1e-5, numberOfIterations=opt.bspline_iterations,
                                     maximumNumberOfCorrections=5, maximumNumberOfFunctionEvaluations=1000,
                                     costFunctionConvergenceFactor=1e7)
            reg.SetMovingInitialTransform(affine)
            reg.SetInitialTransform(bspline, inPlace=True)
            reg.Execute(fixed_img, moving_img)
            info["bspline"] = _report(reg)
            transform = sitk.CompositeTransform([affine, bspline])  # x -> affine(bspline(x))
            info["bspline_s"] = time.perf_counter() - t1
    info["register_s"] = time.perf_counter() - t0
    return transform, info


def _parts(transform: sitk.Transform) -> tuple[sitk.Transform, sitk.Transform | None]:
    """(affine, B-spline or None) of what ``register`` returns."""
    if isinstance(transform, sitk.CompositeTransform):
        n = transform.GetNumberOfTransforms()
        if n == 1:
            return transform.GetNthTransform(0).Downcast(), None
        if n != 2:
            raise ValueError(f"expected affine + B-spline, got a composite of {n} transforms")
        return transform.GetNthTransform(0).Downcast(), transform.GetNthTransform(1).Downcast()
    return transform, None


def invert_points(transform: sitk.Transform, points: np.ndarray) -> tuple[np.ndarray, float]:
    """``x = T^-1(p)`` for moving-physical points (P, 3) (NaN rows stay NaN), and the largest
    residual ``|T(x) - p|`` in mm. Affine part exact; B-spline part by fixed-point iteration."""
    pts = np.asarray(points, float).reshape(-1, 3)
    affine, bspline = _parts(transform)
    inverse = affine.GetInverse()
    out = np.full_like(pts, np.nan)
    worst = 0.0
    for n, p in enumerate(pts):
        if not np.all(np.isfinite(p)):
            continue
        y = np.asarray(inverse.TransformPoint([float(v) for v in p]))
        x = y.copy()
        if bspline is not None:
            for _ in range(_INVERSE_MAX_ITER):
                new = x - (np.asarray(bspline.TransformPoint([float(v) for v in x])) - y)
                step = float(np.abs(new - x).max())
                x = new
                if step < _INVERSE_STEP_MM:
                    break
        out[n] = x
        worst = max(worst, float(np.linalg.norm(np.asarray(transform.TransformPoint([float(v) for v in x])) - p)))
    return out, worst


def transfer_landmarks(transform: sitk.Transform, moving_landmarks: LandmarkSet) -> tuple[LandmarkSet, float]:
    """Carry landmarks from the moving image into the fixed image through ``register``'s transform."""
    coords, residual = invert_points(transform, moving_landmarks.coords)
    return LandmarkSet(list(moving_landmarks.names), coords, moving_landmarks.present.copy(),
                       list(moving_landmarks.descriptions),
                       {k: list(v) for k, v in moving_landmarks.extra.items()}), residual


def register_landmarks(fixed: Volume, moving: Volume, moving_landmarks: LandmarkSet, mode: str = "affine", *,
                       threads: int | None = None, seed: int = 0, options: RegistrationOptions | None = None,
                       initial: sitk.Transform | None = None, **changes: Any) -> tuple[LandmarkSet, dict]:
    """Register ``moving`` (template) to ``fixed`` (subject) and return the template's landmarks in
    the subject (LPS mm), with ``info`` from ``register`` plus ``inverse_s``, ``inverse_residual_mm``
    and ``total_s``. ``mode``: "affine" or "bspline" (affine, then a B-spline on top)."""
    t0 = time.perf_counter()
    transform, info = register(fixed, moving, mode, threads=threads, seed=seed, options=options, initial=initial,
                               **changes)
    t1 = time.perf_counter()
    landmarks, residual = transfer_landmarks(transform, moving_landmarks)
    info.update(inverse_s=time.perf_counter() - t1, inverse_residual_mm=residual, total_s=time.perf_counter() - t0)
    return landmarks, info


__all__ = ["MODES", "RegistrationOptions", "invert_points", "register", "register_landmarks", "single_threaded_itk",
           "sitk_to_volume",
           "transfer_landmarks", "volume_to_sitk"]
