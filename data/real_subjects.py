"""The labelled real head CTs of ``../shared/data/ct`` as (Volume in HU, LandmarkSet) subjects.

    subjects = load_subjects("../shared/data")          # all three, in SUBJECTS order
    vol, lm = subjects["visible-human-male"]

``visible-human-male`` / ``visible-human-female``: NIfTI in HU with ``landmarks.csv``.
``headsq``: a raw ``[k, i, j]`` array of scanner values (air 0, soft tissue ~1000-1100) with
its index->LPS affine in ``affine.txt``; converted to HU as ``value - 1024``.

``head_box`` cuts a subject down to its landmarks' bounding box plus a margin (the shoulders of
the Visible Human scans are never needed), which bounds the memory of augmented copies.
Nothing here is written into the project: the scans stay in the shared folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from data.errors import InputError
from data.landmark_io import read_landmarks
from data.landmarks import LandmarkSet
from data.volume import Volume

SUBJECTS = ("visible-human-male", "visible-human-female", "headsq")
HEADSQ_HU_OFFSET = -1024.0  # headsq raw value -> HU (air 0 -> -1024, soft tissue ~1050 -> ~30 HU)


def default_root() -> Path:
    """``../shared/data`` beside the checkout."""
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def load_subject(root: str | Path, name: str) -> tuple[Volume, LandmarkSet]:
    """One labelled real CT subject (HU, LPS mm)."""
    folder = Path(root) / "ct" / name
    if name == "headsq":
        arr = np.load(folder / "headsq_93x64x64_uint16.npy").astype(np.float32) + HEADSQ_HU_OFFSET
        affine = np.loadtxt(folder / "affine.txt", comments="#")
        vol = Volume(arr, affine, {"modality": "CT", "source": str(folder)})
        lm = read_landmarks(folder / "landmarks_headsq.csv")
    elif name in SUBJECTS:
        from data.load import load_volume

        vol = load_volume(folder / "head_1mm.nii.gz")
        vol.meta.update(modality="CT", source=str(folder))
        lm = read_landmarks(folder / "landmarks.csv")
    else:
        raise InputError(folder, f"unknown labelled subject {name!r} (known: {', '.join(SUBJECTS)})")
    return vol, LandmarkSet(list(lm.names), lm.coords.copy(), lm.present.copy())


def load_subjects(root: str | Path | None = None, names: Sequence[str] = SUBJECTS) -> dict[str, tuple[Volume, LandmarkSet]]:
    """The named subjects (default all) from ``root`` (default ``../shared/data``)."""
    root = Path(root) if root is not None else default_root()
    if not (root / "ct").is_dir():
        raise InputError(root, "no ct/ folder with the labelled real head CTs")
    return {n: load_subject(root, n) for n in names}


def head_box(volume: Volume, landmarks: LandmarkSet, margin_mm: float | Sequence[float] = 60.0) -> Volume:
    """The part of ``volume`` within ``margin_mm`` of its landmarks' bounding box (index-aligned cut)."""
    pts = landmarks.coords[landmarks.present]
    idx = volume.lps_to_index(pts)
    margin = np.broadcast_to(np.asarray(margin_mm, float), (3,)) / volume.spacing
    return volume.crop(np.floor(idx.min(0) - margin), np.ceil(idx.max(0) + margin) + 1)

__all__ = ["SUBJECTS", "default_root", "head_box", "load_subject", "load_subjects"]
