"""A training set from labelled real head CTs (augmented copies) mixed with synthetic heads.

    manifest = write_training_set("work/train", subjects, copies={"visible-human-male": 24, ...},
                                  n_synthetic=30, seed=0)

Each real subject is cut to its head box (``real_subjects.head_box``, 60 mm around the landmarks)
and ``copies[name]`` random CT-like copies are drawn (``ct_augment.augment_ct_case``: pose,
strong affine and elastic shape change, mirror with name swap, a new scanner grid of 0.6-5 mm
slices, field-of-view cuts, kernels, metal, head holder, noise); ``n_synthetic`` phantom heads
(``data.phantom``, the demo's training seeds) are added. Every case is a NIfTI (int16 HU) and a
landmark CSV; ``manifest.csv`` lists them with their ``subject`` (for leave-one-subject-out
splits: an augmented copy never crosses from training to testing) and is written last.
Case ``i`` of subject ``s`` uses ``np.random.default_rng([seed, crc32(s), i])``.
"""
from __future__ import annotations

import sys
import time
import zlib
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from data.augment.spatial import _cast
from data.augment.ct import augment_ct_case
from data.real_subjects import head_box
from data.landmark_io import write_landmarks
from data.landmarks import LandmarkSet
from data.manifest import write_manifest
from data.nifti import write_nifti
from data.volume import Volume

COLUMNS = ("case_id", "scan", "landmarks", "subject", "n_present", "drawn")
SYNTHETIC_SEED = 1000  # the demo bundle's training phantoms (python -m data.phantom --seed 1000)
SHAPE_CHANGES = dict(elastic_mm=4.0, scale=0.12, rotation_deg=12.0, translation_mm=10.0)


def _write(folder: Path, case_id: str, vol: Volume, lm: LandmarkSet) -> tuple[str, str]:
    write_nifti(Volume(_cast(vol.array, np.int16), vol.affine), folder / case_id / "image.nii.gz")
    write_landmarks(folder / case_id / "landmarks.csv", lm)
    return f"{case_id}/image.nii.gz", f"{case_id}/landmarks.csv"


def write_training_set(out_dir: str | Path, subjects: Mapping[str, tuple[Volume, LandmarkSet]],
                       copies: Mapping[str, int], n_synthetic: int = 0, seed: int = 0,
                       progress: Callable[[str], None] | None = None) -> Path:
    """Write the mixed training set (see the module docstring); returns the manifest path."""
    out = Path(out_dir)
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    rows = []
    for name, (vol, lm) in subjects.items():
        box = head_box(vol, lm, 60.0)
        for i in range(int(copies.get(name, 0))):
            t0 = time.perf_counter()
            rng = np.random.default_rng([int(seed), zlib.crc32(name.encode()), i])
            avol, alm = augment_ct_case(box, lm, rng, **SHAPE_CHANGES)
            case_id = f"{name}_{i:03d}"
            scan, lmf = _write(out, case_id, avol, alm)
            drawn = avol.meta["ct_augment"]
            rows.append(dict(case_id=case_id, scan=scan, landmarks=lmf, subject=name, n_present=int(alm.present.sum()),
                             drawn=";".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                             for k, v in drawn.items())))
            say(f"[{name} {i + 1}/{copies[name]}] {avol.shape} slices {drawn['slice_mm']:.2f} mm, "
                f"cut {drawn['fov_cut']}, present {int(alm.present.sum())}/{len(alm)}, {time.perf_counter() - t0:.1f} s")
    if n_synthetic:
        from data.phantom.case import case_seed, generate_case

        for i in range(int(n_synthetic)):
            vol, lm, _ = generate_case(case_seed(SYNTHETIC_SEED, i))
            case_id = f"synthetic_{i:03d}"
            scan, lmf = _write(out, case_id, vol, lm)
            rows.append(dict(case_id=case_id, scan=scan, landmarks=lmf, subject="synthetic",
                             n_present=int(lm.present.sum()), drawn=f"phantom seed {case_seed(SYNTHETIC_SEED, i)}"))
            say(f"[synthetic {i + 1}/{n_synthetic}] {vol.shape}")
    return write_manifest(out / "manifest.csv", rows, COLUMNS)


def subset_manifest(manifest: str | Path, out: str | Path, exclude_subjects: set[str]) -> Path:
    """A copy of ``manifest`` without the cases of ``exclude_subjects`` (paths made absolute)."""
    from data.manifest import read_manifest

    df = read_manifest(manifest)
    keep = df[~df["subject"].isin(exclude_subjects)]
    return write_manifest(out, keep.to_dict("records"), list(COLUMNS))

__all__ = ["COLUMNS", "SYNTHETIC_SEED", "subset_manifest", "write_training_set"]
