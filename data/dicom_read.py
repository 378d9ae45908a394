"""Read a DICOM folder (or one multi-frame file) into a ``Volume`` in Hounsfield units.

    vol = read_dicom("scan_folder")                 # largest series
    vol = read_dicom("scan_folder", series_uid=uid) # a chosen one
    for s in list_series("scan_folder"): print(s.summary())

Slices are sorted by ImagePositionPatient projected on the slice normal, RescaleSlope/Intercept
are applied per slice, uneven gaps are resampled and gantry tilt corrected (``data.slice_stack``);
every correction is recorded as a one-line note in ``vol.meta["notes"]``. Bad input raises
``InputError`` with one line naming the file and the problem. The decoded size is checked against
``max_voxels`` / ``max_bytes`` from the headers before any pixel data are decoded, and the result
by ``data.volume.check_scan`` (geometry, NaN policy, blank scans).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from data.dicom_scan import FolderScan, SeriesInfo, SliceRecord, choose_series, scan_folder
from data.errors import InputError
from data.slice_stack import analyse_positions, stack_slices
from data.volume import MAX_BYTES, MAX_VOXELS, Volume, check_scan, check_size

log = logging.getLogger(__name__)
ORIENTATION_TOL = 1e-4
SPACING_TOL = 1e-3


def list_series(path: str | Path) -> list[SeriesInfo]:
    """Image series found under ``path``, largest first."""
    return scan_folder(path).series


def _check_consistent(series: SeriesInfo, where: Path) -> None:
    first = series.slices[0]
    for s in series.slices[1:]:
        if (s.rows, s.columns) != (first.rows, first.columns):
            raise InputError(where, f"slices of different sizes in one series: {first.rows}x{first.columns} in "
                                    f"{first.label}, {s.rows}x{s.columns} in {s.label}")
        if np.abs(s.orientation - first.orientation).max() > ORIENTATION_TOL:
            raise InputError(where, f"slices with different orientations in one series ({first.label} vs {s.label})")
        if np.abs(s.pixel_spacing - first.pixel_spacing).max() > SPACING_TOL:
            raise InputError(where, f"slices with different pixel spacing in one series: "
                                    f"{list(first.pixel_spacing)} in {first.label}, {list(s.pixel_spacing)} in {s.label}")


def _frames(path: Path, ds) -> np.ndarray:
    """Decoded stored values of a file, (frames, rows, cols) or (rows, cols)."""
    try:
        return ds.pixel_array
    except Exception as exc:  # decoder missing, truncated data, bad header values
        raise InputError(path, f"cannot decode pixel data: {exc}") from None


def _slice(rec: SliceRecord, arr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """One rescaled slice (float32, padding pixels NaN) from the decoded array of its file."""
    raw = arr[rec.frame] if rec.frame is not None else arr
    if raw.shape != shape:
        raise InputError(rec.path, f"pixel array shape {raw.shape} does not match Rows x Columns "
                                   f"{shape[0]}x{shape[1]}")
    padding = rec.dataset.get("PixelPaddingValue")
    sl = raw.astype(np.float32) * np.float32(rec.slope) + np.float32(rec.intercept)
    if padding is not None:
        sl[raw == padding] = np.nan
    return sl


def _pixels(records: list[SliceRecord]) -> np.ndarray:
    """Stack rescaled slices (K, I, J) float32 in record order; each file is decoded once."""
    first = records[0]
    out = np.empty((len(records), first.rows, first.columns), np.float32)
    cache: dict[Path, np.ndarray] = {}
    for k, rec in enumerate(records):
        if rec.path not in cache:
            cache = {rec.path: _frames(rec.path, rec.dataset)}
        try:
            out[k] = _slice(rec, cache[rec.path], (first.rows, first.columns))
        except InputError:
            raise
        except Exception as exc:  # odd pixel arrays or padding values
            raise InputError(rec.path, f"cannot use pixel data: {type(exc).__name__}: {exc}") from None
    return out


def _tilt_tag(ds) -> float | None:
    try:
        return float(ds.get("GantryDetectorTilt"))
    except (TypeError, ValueError, OverflowError):
        return None


def read_series(scan: FolderScan, series: SeriesInfo, *, gap_factor: float = 1.6,
                slice_spacing: float | None = None, max_voxels: int = MAX_VOXELS,
                max_bytes: int = MAX_BYTES) -> Volume:
    """Build the ``Volume`` of one series found by ``scan_folder``."""
    where = scan.folder
    _check_consistent(series, where)
    first = series.slices[0]
    if len(series.slices) == 1:
        raise InputError(where, "only one image slice: a 3D scan is needed")
    check_size(where, (len(series.slices), first.rows, first.columns), 4, max_voxels, max_bytes)
    positions = np.stack([s.position for s in series.slices])
    geo = analyse_positions(positions, first.orientation, first.pixel_spacing)
    records = [series.slices[i] for i in geo.order]
    data = _pixels(records)
    nan = np.isnan(data)
    air = float(np.nanmin(data)) if not nan.all() else -1024.0
    if nan.any():
        data[nan] = air  # padding pixels become the scan's minimum (air)
    vol = stack_slices(
        data, positions[geo.order], first.orientation, first.pixel_spacing, [r.label for r in records],
        where=where, fill=air, gap_factor=gap_factor, slice_spacing=slice_spacing,
    )
    modality = series.modality or "unknown"
    notes = vol.meta["notes"]
    if modality != "CT":
        notes.insert(0, f"modality {modality}, not CT: values are not Hounsfield units; use intensity "
                        "normalisation instead of a bone threshold")
    if scan.skipped:
        notes.append(f"skipped in folder: {scan.skipped_text()}")
    others = [s for s in scan.series if s is not series]
    if others:
        notes.append(f"{len(others)} other series in folder (use --series UID to choose): "
                     + "; ".join(f"{s.uid} ({len(s.slices)} slices)" for s in others[:5]))
    for note in notes:
        log.warning("%s: %s", where, note) if note.startswith("modality") else log.info("%s: %s", where, note)
    vol.meta.update(
        source=str(where), series_uid=series.uid, modality=modality, description=series.description,
        n_source_slices=len(records), gantry_tilt_tag=_tilt_tag(first.dataset),
        slice_positions_mm=geo.distances.tolist(),
    )
    return check_scan(vol, where)


def read_dicom(path: str | Path, series_uid: str | None = None, *, gap_factor: float = 1.6,
               slice_spacing: float | None = None, max_voxels: int = MAX_VOXELS, max_bytes: int = MAX_BYTES) -> Volume:
    """Read a DICOM folder (recursively) or a single (multi-frame) file into a ``Volume`` (HU for CT).

    ``series_uid`` picks a series (default: the one with most slices); ``gap_factor``: a gap
    larger than this times the neighbouring gaps is an error (missing slices);
    ``slice_spacing`` forces resampling along the slice normal (mm); ``max_voxels`` / ``max_bytes``
    cap the decoded size (checked before decoding).
    """
    scan = scan_folder(path)
    return read_series(scan, choose_series(scan, series_uid), gap_factor=gap_factor, slice_spacing=slice_spacing,
                       max_voxels=max_voxels, max_bytes=max_bytes)
