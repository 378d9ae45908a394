"""One entry point for scans: a DICOM folder, a DICOM file, or a NIfTI file -> ``Volume``."""
from __future__ import annotations

from pathlib import Path

from data.errors import InputError
from data.volume import MAX_BYTES, MAX_VOXELS, Volume

NIFTI_SUFFIXES = (".nii", ".nii.gz")


def is_nifti(path: str | Path) -> bool:
    """True for ``.nii`` / ``.nii.gz`` file names."""
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def load_volume(path: str | Path, series_uid: str | None = None, *, max_voxels: int = MAX_VOXELS,
                max_bytes: int = MAX_BYTES, **dicom_options) -> Volume:
    """Read a scan from a DICOM folder/file or a NIfTI file (by name), raising ``InputError`` on bad input.

    The scan is validated (``data.volume.check_scan``); ``max_voxels`` / ``max_bytes`` cap the
    decoded size, checked from the headers before any pixel data are decoded.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    limits = dict(max_voxels=max_voxels, max_bytes=max_bytes)
    if is_nifti(path):
        from data.nifti import read_nifti

        return read_nifti(path, **limits)
    from data.dicom_read import read_dicom

    return read_dicom(path, series_uid, **limits, **dicom_options)
