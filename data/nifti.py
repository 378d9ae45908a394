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
from data.volume import Volume

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
KIJ_TO_NIFTI = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)  # own inverse
_READ_ERRORS = (nib.filebasedimages.ImageFileError, OSError, EOFError, gzip.BadGzipFile, zlib.error, ValueError)


def read_nifti(path: str | Path, modality: str = "MR") -> Volume:
    """Read a 3D NIfTI (or the first volume of a 4D one) as float32 with scaling applied."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    notes: list[str] = []
    try:
        img = nib.load(path)
        if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
            raise InputError(path, f"not a NIfTI file ({type(img).__name__})")
        shape = img.shape
        while len(shape) > 3 and shape[-1] == 1:  # drop trailing singleton dimensions
            shape = shape[:-1]
        if len(shape) == 4:
            notes.append(f"4D NIfTI with {shape[3]} volumes: using the first")
            img = img.slicer[:, :, :, 0]
        elif len(shape) != 3:
            raise InputError(path, f"expected a 3D image, got shape {img.shape}")
        data = img.get_fdata(dtype=np.float32).reshape(shape[:3])
        if img.header.get_sform(coded=True)[1] == 0 and img.header.get_qform(coded=True)[1] == 0:
            notes.append("no sform/qform: orientation unknown, using voxel sizes only")
        affine = RAS_TO_LPS @ img.affine @ KIJ_TO_NIFTI
    except InputError:
        raise
    except _READ_ERRORS as err:
        raise InputError(path, f"cannot read NIfTI: {err}") from None
    try:
        return Volume(np.ascontiguousarray(data.transpose(2, 1, 0)), affine,
                      {"source": str(path), "modality": modality, "notes": notes})
    except ValueError as err:  # e.g. singular affine
        raise InputError(path, str(err)) from None


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
