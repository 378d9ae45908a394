"""Shared test helpers: where the real data lives, and synthetic DICOM series with known values."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data.dicom_write import write_dicom_series

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test with a clear reason when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (../shared/data beside the checkout)")
    return path


def linear_field(lps: np.ndarray) -> np.ndarray:
    """A field linear in LPS: linear resampling reproduces it exactly (up to int16 rounding)."""
    lps = np.asarray(lps, float)
    return 2.0 * lps[..., 0] + 3.0 * lps[..., 1] + 5.0 * lps[..., 2] + 100.0


def write_field_series(folder: Path, positions: np.ndarray, row_dir, col_dir, spacing_ij=(0.9, 0.8),
                       shape_ij=(40, 48), **kwargs) -> list[Path]:
    """A DICOM series whose pixel values are ``linear_field`` of each pixel's LPS position."""
    positions = np.asarray(positions, float)
    row_dir = np.asarray(row_dir, float) / np.linalg.norm(row_dir)
    col_dir = np.asarray(col_dir, float) / np.linalg.norm(col_dir)
    ii, jj = np.meshgrid(np.arange(shape_ij[0]), np.arange(shape_ij[1]), indexing="ij")
    inplane = ii[..., None] * spacing_ij[0] * row_dir + jj[..., None] * spacing_ij[1] * col_dir
    slices = np.stack([linear_field(p + inplane) for p in positions])
    return write_dicom_series(folder, slices, positions, row_dir, col_dir, spacing_ij, **kwargs)


def axial_positions(gaps, origin=(-20.0, -15.0, 10.0)) -> np.ndarray:
    """Slice positions stacked along +z with the given gaps (mm)."""
    z = np.concatenate([[0.0], np.cumsum(gaps)])
    return np.asarray(origin, float) + np.outer(z, [0.0, 0.0, 1.0])
