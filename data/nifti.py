"""NIfTI (``.nii`` / ``.nii.gz``) <-> ``Volume``.

NIfTI stores data axes (a0, a1, a2) and an affine to RAS mm. Our arrays are ``[k, i, j]`` with an
index->LPS affine, so ``array_kij = data.transpose(2, 1, 0)`` (a0 = j, a1 = i, a2 = k) and
``affine_kij = diag(-1, -1, 1, 1) @ nifti_affine @ P`` where ``P`` maps (k, i, j, 1) to
(j, i, k, 1). The NIfTI affine is the one nibabel picks (sform if set, else qform, else pixdim).
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from data.atomic import atomic_path
from data.errors import InputError
from data.volume import MAX_BYTES, MAX_VOXELS, Volume, check_scan, check_size

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
KIJ_TO_NIFTI = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)  # own inverse
_READ_ERRORS = (nib.filebasedimages.ImageFileError, OSError, EOFError, gzip.BadGzipFile, zlib.error, ValueError,
                TypeError, OverflowError, IndexError, KeyError, np.linalg.LinAlgError, nib.spatialimages.HeaderDataError)


def _raw_pixdim(path: Path, img) -> np.ndarray:
    """pixdim[1:4] as stored (nibabel's loaded header has zeros and signs already "fixed")."""
    with nib.openers.ImageOpener(path) as fh:
        raw = type(img.header).from_fileobj(fh, check=False)
    return np.asarray(raw["pixdim"][1:4], float)


def _header_checks(path: Path, img, max_voxels: int, max_bytes: int) -> tuple[int, ...]:
    """The 3D shape to read, after refusing what cannot be decoded sanely (from the header only)."""
    shape = tuple(int(n) for n in img.shape)
    while len(shape) > 3 and shape[-1] == 1:  # drop trailing singleton dimensions
        shape = shape[:-1]
    if len(shape) not in (3, 4):
        raise InputError(path, f"expected a 3D image, got shape {img.shape}")
    dtype = img.get_data_dtype()
    if dtype.fields is not None or dtype.kind not in "biuf":
        raise InputError(path, f"unsupported voxel type {dtype} (RGB or complex?): a scalar 3D image is needed")
    check_size(path, shape[:3], dtype.itemsize, max_voxels, max_bytes)
    if img.header.get_sform(coded=True)[1] == 0:  # the affine comes from pixdim (qform or none)
        pixdim = _raw_pixdim(path, img)
        if not np.all(np.isfinite(pixdim)) or np.any(pixdim <= 0):
            raise InputError(path, f"invalid voxel size pixdim[1:4] = {pixdim.tolist()}: must be positive")
    return shape


def read_nifti(path: str | Path, modality: str = "MR", *, max_voxels: int = MAX_VOXELS,
               max_bytes: int = MAX_BYTES) -> Volume:
    """Read a 3D NIfTI (or the first volume of a 4D one) as float32 with scaling applied.

    The header is checked before any data are decoded (shape, voxel type, size limits, voxel
    sizes), the volume after (``data.volume.check_scan``).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    notes: list[str] = []
    try:
        img = nib.load(path)
        if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
            raise InputError(path, f"not a NIfTI file ({type(img).__name__})")
        shape = _header_checks(path, img, max_voxels, max_bytes)
        if len(shape) == 4:
            notes.append(f"4D NIfTI with {shape[3]} volumes: using the first")
            img = img.slicer[:, :, :, 0]
        data = img.get_fdata(dtype=np.float32).reshape(shape[:3])
        if img.header.get_sform(coded=True)[1] == 0 and img.header.get_qform(coded=True)[1] == 0:
            notes.append("no sform/qform: orientation unknown, using voxel sizes only")
        affine = RAS_TO_LPS @ img.affine @ KIJ_TO_NIFTI
    except InputError:
        raise
    except _READ_ERRORS as err:
        raise InputError(path, f"cannot read NIfTI: {err}") from None
    try:
        vol = Volume(np.ascontiguousarray(data.transpose(2, 1, 0)), affine,
                     {"source": str(path), "modality": modality, "notes": notes})
    except ValueError as err:  # e.g. singular affine
        raise InputError(path, str(err)) from None
    return check_scan(vol, path)


def write_nifti(volume: Volume, path: str | Path) -> Path:
    """Write ``volume`` atomically as NIfTI-1 (sform and qform set; affine stored as float32)."""
    path = Path(path)
    if not path.name.lower().endswith((".nii", ".nii.gz")):
        raise InputError(path, "NIfTI file name must end in .nii or .nii.gz")
    affine = RAS_TO_LPS @ volume.affine @ KIJ_TO_NIFTI
    array = np.asarray(volume.array)
    array = array.astype(np.uint8) if array.dtype == bool else array
    img = nib.Nifti1Image(array.transpose(2, 1, 0), affine, dtype="compat")  # int64 -> int32 where it fits
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    with atomic_path(path) as tmp:
        nib.save(img, tmp)
    return path
