"""One entry point for scans: a DICOM folder, a DICOM file, or a NIfTI file -> ``Volume``."""
from __future__ import annotations

from pathlib import Path

from data.errors import InputError
from data.volume import Volume

NIFTI_SUFFIXES = (".nii", ".nii.gz")


def is_nifti(path: str | Path) -> bool:
    """True for ``.nii`` / ``.nii.gz`` file names."""
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def load_volume(path: str | Path, series_uid: str | None = None, **dicom_options) -> Volume:
    """Read a scan from a DICOM folder/file or a NIfTI file (by name), raising ``InputError`` on bad input."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    if is_nifti(path):
        from data.nifti import read_nifti

        return read_nifti(path)
    from data.dicom_read import read_dicom

    return read_dicom(path, series_uid, **dicom_options)
