"""One synthetic case in memory, written to disk, and whole datasets with a manifest.

    vol, lms, params = generate_case(7)                     # in memory (HU Volume, LandmarkSet)
    row = write_case("out/case_0007", 7)                    # DICOM series + landmarks.csv/.fcsv
    generate_dataset("out", cases=20, seed=1)               # + out/manifest.csv (written last)

The in-memory ``Volume`` is exactly what ``data.dicom_read.read_dicom`` returns for the written
series: the slices are rounded to integer HU first and stacked with the reader's own
``stack_slices`` (uneven gaps resampled the same way) on DS-rounded positions.
"""
from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from data.atomic import atomic_open
from data.manifest import write_manifest
from data.dicom_write import write_dicom_series
from data.landmark_defs import load_definition
from data.landmark_io import write_landmarks
from data.landmarks import LandmarkSet
from data.phantom.anatomy import LABELS, LANDMARK_SET, Anatomy, build_head
from data.phantom.options import PhantomOptions, make_options
from data.phantom.scanner import (ScanSpec, SliceGeometry, acquire, degrade, holder_parts, metal_parts,
                                  pose_matrix, sample_scan, slice_geometry)
from data.phantom.shape import HeadShape, sample_shape
from data.slice_stack import stack_slices
from data.volume import Volume

MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = (
    "case_id", "dicom_dir", "landmarks", "landmarks_fcsv", "params", "seed", "n_present", "absent", "rows", "columns",
    "slices", "pixel_spacing", "slice_spacing", "uneven_gaps", "tilt_deg", "pose_yaw", "pose_pitch", "pose_roll",
    "protocol", "head_size", "noise_hu", "blur_mm", "metal",
)


@dataclass
class PhantomCase:
    """A generated case: the regular ``volume`` (HU), the raw ``slices`` as they are written, the
    slice geometry, the landmarks (LPS) and every parameter."""

    seed: int
    volume: Volume
    landmarks: LandmarkSet
    params: dict
    slices: np.ndarray
    geometry: SliceGeometry
    shape: HeadShape
    spec: ScanSpec
    anatomy: Anatomy
    pose: np.ndarray  # 4x4 canonical -> LPS


def _rngs(seed: int):
    ss = np.random.SeedSequence(int(seed))
    return [np.random.default_rng(s) for s in ss.spawn(3)]


def make_case(seed: int, options: PhantomOptions | None = None, **kwargs) -> PhantomCase:
    """Generate one case from ``seed`` (every random choice derives from it)."""
    opts = make_options(options, **kwargs)
    rng_shape, rng_scan, rng_noise = _rngs(seed)
    symmetric = bool(opts.symmetric) if opts.symmetric is not None else False
    shape = sample_shape(rng_shape, symmetric=symmetric, mean=opts.mean_shape)
    anatomy = build_head(shape, teeth=opts.teeth)
    spec = sample_scan(rng_scan, opts, len(anatomy.tooth_crowns))
    centre = anatomy.key_points["head_centre"]
    pose = pose_matrix(spec, centre)
    geo = slice_geometry(spec, anatomy, pose, opts.max_slices, keep_landmarks=opts.fov_cut is False)
    extra, metal_can = metal_parts(anatomy, spec)
    extra += holder_parts(anatomy, spec, pose)
    slices, labels = acquire(anatomy.parts + extra, geo, pose, labels=opts.labels)
    metal_lps = [pose[:3, :3] @ c + pose[:3, 3] for c in metal_can]
    degrade(slices, geo, spec, rng_noise, metal_lps)

    orientation = list(geo.col_dir) + list(geo.row_dir)
    names = [f"slice_{k:04d}" for k in range(len(slices))]
    vol = stack_slices(slices, geo.positions, orientation, (geo.pixel_spacing, geo.pixel_spacing), names,
                       where=f"phantom seed {seed}", fill=float(slices.min()))
    if labels is not None:
        vol.meta["labels"] = _labels_on_grid(labels, geo, vol)
        vol.meta["label_names"] = {v: k for k, v in LABELS.items()}

    defn = load_definition(LANDMARK_SET)
    can = anatomy.landmark_array(defn.names)
    lps = can @ pose[:3, :3].T + pose[:3, 3]
    present = vol.contains(lps, margin_vox=0.0)
    if spec.padding is not None:
        idx = vol.lps_to_index(lps)
        c = (geo.matrix - 1) / 2
        present &= (idx[:, 1] - c) ** 2 + (idx[:, 2] - c) ** 2 <= (geo.matrix / 2 - 1) ** 2
    lmset = LandmarkSet(defn.names, lps, present, [defn.full_names[i] for i in range(len(defn.names))])

    vol.meta.update(source=f"phantom:{seed}", modality="CT", description=f"synthetic head CT seed {seed}")
    params = dict(
        seed=int(seed), options=opts.as_dict(), shape=shape.as_dict(), scan=spec.as_dict(),
        pose_matrix=pose.tolist(), slices=len(slices), rows=geo.matrix, columns=geo.matrix,
        pixel_spacing=geo.pixel_spacing, slice_spacing=float(np.median(np.diff(geo.distances))),
        slice_distances=geo.distances.tolist(), uneven_gaps=spec.uneven is not None, tilt_deg=spec.tilt_deg,
        volume_shape=list(vol.shape), volume_spacing=vol.spacing.tolist(),
        landmarks_canonical={n: c.tolist() for n, c in zip(defn.names, can)},
        absent=[n for n, p in zip(defn.names, present) if not p], notes=list(vol.meta["notes"]),
    )
    return PhantomCase(int(seed), vol, lmset, params, slices, geo, shape, spec, anatomy, pose)


def _labels_on_grid(labels: np.ndarray, geo: SliceGeometry, vol: Volume) -> np.ndarray:
    """Label slices on the volume's uniform grid (nearest written slice)."""
    if vol.shape[0] == labels.shape[0]:
        return labels
    targets = np.arange(vol.shape[0]) * vol.spacing[0]
    nearest = np.abs(geo.distances[None, :] - targets[:, None]).argmin(axis=1)
    return labels[nearest]


def generate_case(seed: int, **options) -> tuple[Volume, LandmarkSet, dict]:
    """In-memory case: (Volume in HU, LandmarkSet in LPS mm, parameter dict). See ``PhantomOptions``."""
    case = make_case(seed, **options)
    return case.volume, case.landmarks, case.params


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_case(folder: str | Path, seed: int, *, case: PhantomCase | None = None, case_id: str | None = None,
               uid_prefix: str = "phantom", **options) -> dict:
    """Write one case into ``folder``: ``dicom/`` (one file per slice), ``landmarks.csv``,
    ``landmarks.fcsv`` and ``params.json``. Returns its manifest row (paths relative to
    ``folder``'s parent). Pass ``case`` to write an already generated case."""
    folder = Path(folder)
    case = case if case is not None else make_case(seed, **options)
    case_id = case_id or folder.name
    geo = case.geometry
    description = f"Landmark Cascade synthetic head CT, seed {case.seed}"
    write_dicom_series(folder / "dicom", case.slices, geo.positions, geo.row_dir, geo.col_dir,
                       (geo.pixel_spacing, geo.pixel_spacing), slice_thickness=case.params["slice_spacing"],
                       seed=f"{uid_prefix}-{case.seed}", patient_id=f"PHANTOM_{case.seed}", description=description)
    note = f"synthetic head CT seed {case.seed}; LPS mm; exact landmarks"
    write_landmarks(folder / "landmarks.csv", case.landmarks)  # plain CSV: no description line
    write_landmarks(folder / "landmarks.fcsv", case.landmarks, description=note)
    with atomic_open(folder / "params.json", "w", encoding="utf-8") as fh:
        json.dump(case.params, fh, indent=1, sort_keys=True, default=_json_default)
        fh.write("\n")
    p = case.params
    rel = Path(folder.name)
    yaw, pitch, roll = case.spec.pose_deg
    return dict(
        case_id=case_id, dicom_dir=str(rel / "dicom"), landmarks=str(rel / "landmarks.csv"),
        landmarks_fcsv=str(rel / "landmarks.fcsv"), params=str(rel / "params.json"), seed=case.seed,
        n_present=int(case.landmarks.present.sum()), absent=";".join(p["absent"]), rows=p["rows"],
        columns=p["columns"], slices=p["slices"], pixel_spacing=_num(p["pixel_spacing"]),
        slice_spacing=_num(p["slice_spacing"]), uneven_gaps=int(p["uneven_gaps"]), tilt_deg=_num(p["tilt_deg"]),
        pose_yaw=_num(yaw), pose_pitch=_num(pitch), pose_roll=_num(roll), protocol=case.spec.protocol,
        head_size=_num(case.shape.size), noise_hu=_num(case.spec.noise_hu), blur_mm=_num(case.spec.blur_mm),
        metal=len(case.spec.metal_crowns),
    )


def _num(x: float) -> str:
    return f"{float(x):.6g}"


def case_seed(seed: int, index: int) -> int:
    """Seed of case ``index`` of a dataset made with ``seed`` (63-bit, reproducible)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def generate_dataset(out: str | Path, cases: int, seed: int = 0, *, start: int = 0,
                     progress: Callable[[str], None] | None = None, **options) -> Path:
    """Write ``cases`` cases into ``out/case_NNNN`` and ``out/manifest.csv`` (atomically, last).

    Case ``i`` uses seed ``case_seed(seed, i)``. With ``start`` > 0 (extending a dataset) the rows
    of an existing manifest for other cases are kept; otherwise the manifest lists exactly these
    cases. ``progress`` gets one line per case. Returns the manifest path. Same arguments give
    byte-identical files.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    make_options(**options)  # validate before any work
    rows = []
    width = max(4, len(str(start + cases - 1)))
    for n, index in enumerate(range(start, start + cases)):
        t0 = time.perf_counter()
        cs = case_seed(seed, index)
        case_id = f"case_{index:0{width}d}"
        case = make_case(cs, **options)
        t1 = time.perf_counter()
        row = write_case(out / case_id, cs, case=case, case_id=case_id)
        rows.append(row)
        if progress is not None:
            absent = row["absent"] or "-"
            progress(f"[{n + 1}/{cases}] {case_id} {row['columns']}x{row['rows']}x{row['slices']} "
                     f"{float(row['pixel_spacing']):.3g}/{float(row['slice_spacing']):.3g} mm {case.spec.protocol} "
                     f"pose ({', '.join(f'{a:+.1f}' for a in case.spec.pose_deg)}) deg absent: {absent} "
                     f"generate {t1 - t0:.2f} s, write {time.perf_counter() - t1:.2f} s")
    manifest = out / MANIFEST
    if start > 0 and manifest.is_file():
        with open(manifest, encoding="utf-8", newline="") as fh:
            old = [r for r in csv.DictReader(fh) if set(r) == set(MANIFEST_COLUMNS)]
        new_ids = {r["case_id"] for r in rows}
        rows = sorted([r for r in old if r["case_id"] not in new_ids] + rows, key=lambda r: r["case_id"])
    write_manifest(manifest, rows, MANIFEST_COLUMNS)
    return manifest
