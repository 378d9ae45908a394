"""One entry point for scans: a DICOM folder, a DICOM file, or a NIfTI file -> ``Volume``; any other
file is refused with a message saying what is supported."""
from __future__ import annotations

from pathlib import Path

from data.errors import InputError
from data.volume import MAX_BYTES, MAX_VOXELS, Volume

NIFTI_SUFFIXES = (".nii", ".nii.gz")
SUPPORTED = "a DICOM file, DICOM folder or NIfTI file (.nii/.nii.gz)"


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
    if path.is_file():
        refuse_unsupported_file(path)
    from data.dicom_read import read_dicom

    return read_dicom(path, series_uid, **limits, **dicom_options)


def refuse_unsupported_file(path: Path) -> None:
    """``InputError`` for a file that is neither NIfTI (by name) nor DICOM (by content), e.g. ``.npy``:
    the message says what is supported (a truncated DICOM file keeps its own, sharper message)."""
    from data.dicom_scan import scan_folder

    scan = scan_folder(path)
    if not scan.series and set(scan.skipped) == {"not DICOM"}:
        raise InputError(path, f"not {SUPPORTED}")
