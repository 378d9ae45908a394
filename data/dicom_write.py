"""Write a stack of slices as a real DICOM CT series (one file per slice, or one enhanced
multi-frame file).

Used by the synthetic head-CT generator and by the reader's tests. Pixel data are signed int16
with RescaleIntercept -1024 (stored = HU + 1024), as many scanners do. UIDs derive from ``seed``
so the same input gives byte-identical files. The series is written into a temporary folder and
renamed into place, so a failed write never leaves a half series under the final name.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, UID, generate_uid

from data.volume import Volume

CT_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.2")
ENHANCED_CT_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.2.1")
MR_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.4")
INTERCEPT = -1024.0


def _uid(seed: object, *parts: object) -> UID:
    return generate_uid(entropy_srcs=[str(seed), *map(str, parts)])


def _f(values: Sequence[float]) -> list[str]:
    """Decimal strings (DS) of at most 16 characters."""
    return [f"{float(v):.6f}"[:16] for v in values]


def _base_dataset(sop_class: UID, sop_uid: UID, study_uid: UID, series_uid: UID, frame_uid: UID,
                  modality: str, patient_id: str, description: str, transfer_syntax: UID) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian if transfer_syntax is None else transfer_syntax
    meta.ImplementationClassUID = _uid("landmark-cascade", "implementation")
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.Modality = modality
    ds.PatientName = patient_id
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyDate = "20260101"
    ds.StudyTime = "120000"
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.SeriesNumber = 1
    ds.SeriesDescription = description
    ds.Manufacturer = "Landmark Cascade synthetic"
    ds.PositionReferenceIndicator = ""
    ds.KVP = "120"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    return ds


def _to_stored(hu: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(hu, float) - INTERCEPT), -32768, 32767).astype(np.int16)


def _set_pixels(ds: Dataset, stored: np.ndarray, transfer_syntax: UID | None) -> None:
    if transfer_syntax is None or not UID(transfer_syntax).is_compressed:
        ds.PixelData = stored.tobytes()
    else:
        ds.PixelData = stored.tobytes()
        ds.compress(transfer_syntax, stored)


def write_dicom_series(
    folder: str | Path,
    slices: np.ndarray,
    positions: np.ndarray,
    row_dir: Sequence[float],
    col_dir: Sequence[float],
    pixel_spacing: Sequence[float],
    *,
    slice_thickness: float | None = None,
    modality: str = "CT",
    seed: object = 0,
    patient_id: str = "SYNTHETIC",
    description: str = "synthetic head CT",
    transfer_syntax: UID | str | None = None,
    multiframe: bool = False,
    gantry_tilt: float | None = None,
) -> list[Path]:
    """Write ``slices`` (K, I, J) in HU as a DICOM series into ``folder``.

    ``positions`` (K, 3): LPS of voxel (i=0, j=0) of each slice (ImagePositionPatient);
    ``row_dir``: unit direction of increasing row index i (DICOM column cosine);
    ``col_dir``: unit direction of increasing column index j (DICOM row cosine);
    ``pixel_spacing``: (di, dj) mm. Returns the written file paths (final locations).
    """
    folder = Path(folder)
    slices = np.asarray(slices)
    positions = np.asarray(positions, float).reshape(-1, 3)
    if slices.ndim != 3 or slices.shape[0] != positions.shape[0]:
        raise ValueError(f"slices {slices.shape} and positions {positions.shape} do not match")
    if folder.exists() and any(p.suffix.lower() != ".dcm" for p in folder.iterdir()):
        raise FileExistsError(f"{folder}: exists and holds non-DICOM files; refusing to replace it")
    row_dir = np.asarray(row_dir, float) / np.linalg.norm(row_dir)
    col_dir = np.asarray(col_dir, float) / np.linalg.norm(col_dir)
    iop = _f(list(col_dir) + list(row_dir))
    ts = None if transfer_syntax is None else UID(transfer_syntax)
    study_uid, series_uid, frame_uid = (_uid(seed, x) for x in ("study", "series", "frame"))
    sop_class = {"CT": CT_IMAGE_STORAGE, "MR": MR_IMAGE_STORAGE}.get(modality, CT_IMAGE_STORAGE)
    if slice_thickness is None:
        normal = np.cross(col_dir, row_dir)
        gaps = np.abs(np.diff(positions @ normal))
        slice_thickness = float(np.median(gaps)) if gaps.size else 1.0

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        names: list[str] = []
        if multiframe:
            sop_uid = _uid(seed, "sop", "multiframe")
            ds = _base_dataset(ENHANCED_CT_IMAGE_STORAGE, sop_uid, study_uid, series_uid, frame_uid,
                               modality, patient_id, description, ts)
            ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
            ds.InstanceNumber = 1
            ds.NumberOfFrames = slices.shape[0]
            ds.Rows, ds.Columns = int(slices.shape[1]), int(slices.shape[2])
            shared = Dataset()
            orient = Dataset()
            orient.ImageOrientationPatient = iop
            shared.PlaneOrientationSequence = [orient]
            measures = Dataset()
            measures.PixelSpacing = _f(pixel_spacing)
            measures.SliceThickness = _f([slice_thickness])[0]
            shared.PixelMeasuresSequence = [measures]
            transform = Dataset()
            transform.RescaleIntercept = _f([INTERCEPT])[0]
            transform.RescaleSlope = "1"
            transform.RescaleType = "HU"
            shared.PixelValueTransformationSequence = [transform]
            ds.SharedFunctionalGroupsSequence = [shared]
            per_frame = []
            for pos in positions:
                item, plane = Dataset(), Dataset()
                plane.ImagePositionPatient = _f(pos)
                item.PlanePositionSequence = [plane]
                per_frame.append(item)
            ds.PerFrameFunctionalGroupsSequence = per_frame
            _set_pixels(ds, _to_stored(slices), ts)
            names.append("multiframe.dcm")
            ds.save_as(tmp / names[-1], enforce_file_format=True)
        else:
            for k in range(slices.shape[0]):
                sop_uid = _uid(seed, "sop", k)
                ds = _base_dataset(CT_IMAGE_STORAGE if modality == "CT" else sop_class, sop_uid, study_uid,
                                   series_uid, frame_uid, modality, patient_id, description, ts)
                ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
                ds.InstanceNumber = k + 1
                ds.ImagePositionPatient = _f(positions[k])
                ds.ImageOrientationPatient = iop
                ds.PixelSpacing = _f(pixel_spacing)
                ds.SliceThickness = _f([slice_thickness])[0]
                if gantry_tilt is not None:
                    ds.GantryDetectorTilt = _f([gantry_tilt])[0]
                ds.Rows, ds.Columns = int(slices.shape[1]), int(slices.shape[2])
                ds.RescaleIntercept = _f([INTERCEPT])[0]
                ds.RescaleSlope = "1"
                ds.RescaleType = "HU"
                ds.WindowCenter = "400"
                ds.WindowWidth = "2000"
                _set_pixels(ds, _to_stored(slices[k]), ts)
                names.append(f"slice_{k:04d}.dcm")
                ds.save_as(tmp / names[-1], enforce_file_format=True)
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [folder / n for n in names]


def write_volume_dicom(volume: Volume, folder: str | Path, **kwargs) -> list[Path]:
    """Write a ``Volume`` (HU) as a DICOM series: one slice per k, geometry from its affine."""
    a = volume.affine
    positions = volume.index_to_lps(np.stack([np.arange(volume.shape[0]), np.zeros(volume.shape[0]),
                                              np.zeros(volume.shape[0])], axis=1))
    sp = volume.spacing
    kwargs.setdefault("slice_thickness", float(sp[0]))
    return write_dicom_series(folder, volume.array, positions, a[:3, 1], a[:3, 2], (sp[1], sp[2]), **kwargs)

