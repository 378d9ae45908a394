"""Training data from a manifest (``data.manifest``): scans cached in memory once, split by case.

Every scan and landmark file is read inside ``data.errors.boundary``: whatever goes wrong reading
one becomes an ``InputError`` naming that file.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from cascade.case import Case
from cascade.config import CascadeConfig
from cascade.progress import Progress
from data.errors import boundary
from data.landmark_io import read_landmarks
from data.landmarks import LandmarkSet
from data.load import load_volume
from data.volume import Volume


def read_case_landmarks(path: str) -> LandmarkSet:
    """``read_landmarks`` with any failure reported as an ``InputError`` on ``path``."""
    with boundary(path):
        return read_landmarks(path)


def read_case_scan(path: str) -> Volume:
    """``load_volume`` with any failure reported as an ``InputError`` on ``path``."""
    with boundary(path):
        return load_volume(path)


def landmark_names(manifest: pd.DataFrame) -> list[str]:
    """Landmark names from the annotation files: the first file's order, then any others' extra names."""
    names: list[str] = []
    for f in manifest["landmarks"]:
        for n in read_case_landmarks(f).names:
            if n not in names:
                names.append(n)
    return names


def load_cases(manifest: pd.DataFrame, names: Sequence[str], config: CascadeConfig | None = None,
               progress: bool = True) -> list[Case]:
    """Read every scan and landmark file of the manifest into memory, preprocessed as ``config``
    says (``Case.for_cascade``; without a config: canonical axes at the scan's own resolution).
    ``progress``: one step per case on stderr (``cascade.progress``)."""
    cases = []
    with Progress(len(manifest), "loading cases") as bar:
        for row in manifest.itertuples(index=False):
            vol, lm = read_case_scan(row.scan), read_case_landmarks(row.landmarks)
            cases.append(Case.for_cascade(config, row.case_id, vol, lm, list(names)) if config is not None
                         else Case.make(row.case_id, vol, lm, list(names)))
            if progress:
                bar.step(str(row.case_id))
    return cases


def split_cases(case_ids: Sequence[str], val_fraction: float = 0.2, seed: int = 0,
                folds: int | None = None, fold: int = 0) -> tuple[list[int], list[int]]:
    """(train indices, validation indices) by case: a seeded random split, or fold ``fold`` of ``folds``."""
    n = len(case_ids)
    order = np.random.default_rng(seed).permutation(n)
    if folds:
        if not 0 <= fold < folds or folds > n:
            raise ValueError(f"fold {fold} of {folds} impossible with {n} cases")
        val = sorted(order[fold::folds].tolist())
    else:
        n_val = int(round(n * val_fraction)) if n > 1 else 0
        n_val = min(max(n_val, 1 if val_fraction > 0 and n > 1 else 0), n - 1)
        val = sorted(order[:n_val].tolist())
    train = [i for i in range(n) if i not in set(val)]
    return train, val
