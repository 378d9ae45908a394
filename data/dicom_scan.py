"""Find the image slices in a DICOM folder and group them into series.

Reads headers only (pixel data is deferred). Skips, and counts, what is not a volume slice:
non-DICOM files, DICOMDIR, localizers/scouts and non-image objects (SR, presentation states,
RT structures, ...). An image object that is broken (unparseable, no pixel data, a file cut
inside its preamble or header, invalid geometry or rescale values) is an error naming that file,
not a skip: silently dropping a slice would distort the scan.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from data.errors import InputError

DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
DEFER_BYTES = 4096
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
PREAMBLE = 128  # bytes before the "DICM" magic
MAX_MM = 1e6  # positions and sizes beyond a kilometre are corrupt headers
UNIT_TOL = 1e-2  # direction cosines: |norm - 1| and |row . column| at most this


@dataclass
class SliceRecord:
    """One 2D image: a single-frame file, or one frame of a multi-frame file."""

    path: Path
    frame: int | None
    dataset: Dataset
    position: np.ndarray  # ImagePositionPatient (3,)
    orientation: np.ndarray  # ImageOrientationPatient (6,): direction of +j, then of +i
    pixel_spacing: np.ndarray  # (di, dj) mm
    rows: int
    columns: int
    slope: float
    intercept: float
    thickness: float | None

    @property
    def label(self) -> str:
        """File name (plus frame number) for messages."""
        return self.path.name if self.frame is None else f"{self.path.name} frame {self.frame + 1}"


@dataclass
class SeriesInfo:
    """The slices of one SeriesInstanceUID."""

    uid: str
    modality: str
    description: str
    slices: list[SliceRecord] = field(default_factory=list)

    @property
    def files(self) -> int:
        return len({s.path for s in self.slices})

    def summary(self) -> str:
        s = self.slices[0]
        return (f"{self.uid}  {self.modality:<3} {len(self.slices):>5} slices  {s.rows}x{s.columns}  "
                f"{self.description!r}")


@dataclass
class FolderScan:
    """Series found in a folder, largest first, and a count of what was skipped and why."""

    folder: Path
    series: list[SeriesInfo]
    skipped: Counter

    def skipped_text(self) -> str:
        return ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items())) or "nothing"


def _floats(path: Path, ds: Dataset, name: str, n: int, where: Dataset | None = None) -> np.ndarray:
    src = ds if where is None else where
    val = None
    try:
        val = src.get(name)
        arr = np.array([float(v) for v in val], float)
    except (TypeError, ValueError, OverflowError):
        arr = np.array([])
    if arr.size != n or not np.all(np.isfinite(arr)) or np.abs(arr).max() > MAX_MM:
        raise InputError(path, f"missing or invalid {name} (expected {n} numbers, got {val!r})")
    return arr


def _number(path: Path, src: Dataset, name: str, default: float | None, integer: bool = False):
    """A numeric attribute (``default`` when absent or empty); ``InputError`` when it is not a finite number."""
    val = src.get(name)
    if val is None or (isinstance(val, str) and not val.strip()):
        return default
    try:
        out = float(val)
        if integer and out != int(out):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise InputError(path, f"invalid {name} {val!r}: not a{'n integer' if integer else ' number'}") from None
    if not np.isfinite(out) or abs(out) > 2**31:
        raise InputError(path, f"invalid {name} {val!r}")
    return int(out) if integer else out


def _geometry(path: Path, pos: np.ndarray, ori: np.ndarray, spacing: np.ndarray) -> tuple:
    """Refuse spacing that is not positive and direction cosines that are not two perpendicular unit vectors."""
    if np.any(spacing <= 0):
        raise InputError(path, f"invalid PixelSpacing {spacing.tolist()}: must be positive")
    norms = np.linalg.norm(ori.reshape(2, 3), axis=1)
    if np.any(np.abs(norms - 1) > UNIT_TOL) or abs(float(ori[:3] @ ori[3:])) > UNIT_TOL:
        raise InputError(path, f"invalid ImageOrientationPatient {ori.tolist()}: not two perpendicular unit vectors")
    return pos, ori, spacing


def _rescale(path: Path, src: Dataset | None) -> tuple[float, float]:
    """RescaleSlope (default 1; 0 refused) and RescaleIntercept (default 0)."""
    if src is None:
        return 1.0, 0.0
    slope = _number(path, src, "RescaleSlope", 1.0)
    if slope == 0:
        raise InputError(path, "RescaleSlope is 0: every pixel would have the same value")
    return slope, _number(path, src, "RescaleIntercept", 0.0)


def _thickness(src: Dataset) -> float | None:
    """SliceThickness when it is a positive number, else None (informative only)."""
    try:
        th = float(src.get("SliceThickness"))
    except (TypeError, ValueError, OverflowError):
        return None
    return th if np.isfinite(th) and th > 0 else None


def _is_image_object(ds: Dataset) -> bool:
    sop = str(ds.get("SOPClassUID", "") or getattr(ds.get("file_meta", None), "MediaStorageSOPClassUID", ""))
    name = UID(sop).name if sop else ""
    if "Image Storage" in name:
        return True
    if name and name != sop:  # a known, non-image SOP class (SR, presentation state, RT, ...)
        return False
    return "Rows" in ds or "PixelData" in ds


def _is_localizer(ds: Dataset) -> bool:
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    return "LOCALIZER" in image_type or "SCOUT" in image_type


def _functional(ds: Dataset, frame: int, seq: str, attr: str):
    """Look an attribute up in the per-frame functional group, then the shared one."""
    for groups, idx in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        try:
            item = ds[groups][idx][seq][0]
        except (KeyError, IndexError, TypeError):
            continue
        if attr in item:
            return item
    return None


def _records(path: Path, ds: Dataset) -> list[SliceRecord]:
    """Turn one image object into slice records (several for an enhanced multi-frame file)."""
    if "PixelData" not in ds:
        raise InputError(path, "image object has no pixel data (file truncated or incomplete?)")
    rows, cols = _number(path, ds, "Rows", 0, True), _number(path, ds, "Columns", 0, True)
    if rows < 1 or cols < 1:
        raise InputError(path, f"invalid image size Rows={ds.get('Rows')} Columns={ds.get('Columns')}")
    n_frames = _number(path, ds, "NumberOfFrames", 1, True)
    if n_frames < 1:
        raise InputError(path, f"invalid NumberOfFrames {n_frames}")
    if "PerFrameFunctionalGroupsSequence" not in ds:
        if n_frames > 1:
            raise InputError(path, f"multi-frame object with {n_frames} frames but no per-frame geometry "
                                   "(not an enhanced CT/MR image)")
        geo = _geometry(path, _floats(path, ds, "ImagePositionPatient", 3),
                        _floats(path, ds, "ImageOrientationPatient", 6), _floats(path, ds, "PixelSpacing", 2))
        return [SliceRecord(path, None, ds, *geo, rows, cols, *_rescale(path, ds), _thickness(ds))]
    n_items = len(ds.PerFrameFunctionalGroupsSequence or [])
    if n_items != n_frames:
        raise InputError(path, f"NumberOfFrames {n_frames} but {n_items} per-frame functional groups")
    out = []
    for f in range(n_frames):
        pos = _functional(ds, f, "PlanePositionSequence", "ImagePositionPatient")
        ori = _functional(ds, f, "PlaneOrientationSequence", "ImageOrientationPatient")
        mea = _functional(ds, f, "PixelMeasuresSequence", "PixelSpacing")
        val = _functional(ds, f, "PixelValueTransformationSequence", "RescaleSlope")
        if pos is None or ori is None or mea is None:
            raise InputError(path, f"frame {f + 1}: missing plane position, orientation or pixel spacing")
        geo = _geometry(path, _floats(path, ds, "ImagePositionPatient", 3, pos),
                        _floats(path, ds, "ImageOrientationPatient", 6, ori), _floats(path, ds, "PixelSpacing", 2, mea))
        out.append(SliceRecord(path, f, ds, *geo, rows, cols, *_rescale(path, val), _thickness(mea)))
    return out


def _truncated_dicom(path: Path) -> bool:
    """A file that is not parseable but is named like DICOM or holds only the start of a DICOM preamble."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        size = path.stat().st_size
        head = path.read_bytes()[: PREAMBLE + 4] if 0 < size <= PREAMBLE + 4 else b""
    except OSError:
        return False
    magic = head[PREAMBLE:]
    return bool(head) and b"DICM".startswith(magic) and (bool(magic) or not head.strip(b"\0"))


def _classify(path: Path, ds: Dataset, series: dict[str, "SeriesInfo"], skipped: Counter) -> None:
    """File one parsed object: a skip reason, or its slices into ``series``."""
    media_class = str(getattr(ds.get("file_meta", None), "MediaStorageSOPClassUID", ""))
    if media_class == DICOMDIR_CLASS or "DirectoryRecordSequence" in ds:
        skipped["DICOMDIR"] += 1
    elif not len(ds):
        raise InputError(path, "DICOM file without a data set (truncated?)")
    elif not _is_image_object(ds):
        skipped["non-image objects"] += 1
    elif _is_localizer(ds):
        skipped["localizers"] += 1
    elif ("ImagePositionPatient" not in ds and "PerFrameFunctionalGroupsSequence" not in ds
          and "PixelData" in ds):
        skipped["images without patient geometry"] += 1
    else:
        uid = str(ds.get("SeriesInstanceUID", "")) or "(no SeriesInstanceUID)"
        info = series.setdefault(uid, SeriesInfo(uid, str(ds.get("Modality", "")),
                                                 str(ds.get("SeriesDescription", ""))))
        info.slices.extend(_records(path, ds))


def scan_folder(folder: str | Path) -> FolderScan:
    """Read the headers of every file under ``folder`` (recursively) and group image slices by series.

    A single file path is accepted too (e.g. one enhanced multi-frame file).
    """
    folder = Path(folder)
    if not folder.exists():
        raise InputError(folder, "no such file or folder")
    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    if not files:
        raise InputError(folder, "folder is empty")
    skipped: Counter = Counter()
    series: dict[str, SeriesInfo] = {}
    for path in files:
        try:
            ds = pydicom.dcmread(path, defer_size=DEFER_BYTES)
        except InvalidDicomError:
            if _truncated_dicom(path):
                raise InputError(path, "not a readable DICOM file (empty or truncated?)") from None
            skipped["not DICOM"] += 1
            continue
        except Exception as exc:  # parse failure of a file that does claim to be DICOM
            raise InputError(path, f"cannot be parsed as DICOM (truncated or corrupt): {exc}") from None
        try:
            _classify(path, ds, series, skipped)
        except InputError:
            raise
        except Exception as exc:  # a header value pydicom cannot convert (bad VR, text in a number, ...)
            raise InputError(path, f"invalid DICOM header: {type(exc).__name__}: {exc}") from None
    found = sorted(series.values(), key=lambda s: -len(s.slices))
    return FolderScan(folder, found, skipped)


def choose_series(scan: FolderScan, series_uid: str | None = None) -> SeriesInfo:
    """The series with the most slices, or the one named; clear errors when there is none."""
    if not scan.series:
        if scan.skipped and set(scan.skipped) == {"not DICOM"}:
            raise InputError(scan.folder, f"no DICOM files found ({scan.skipped['not DICOM']} other files)")
        raise InputError(scan.folder, f"no image series found (skipped: {scan.skipped_text()})")
    if series_uid is None:
        return scan.series[0]
    for s in scan.series:
        if s.uid == series_uid:
            return s
    raise InputError(scan.folder, f"series {series_uid} not found; series present: "
                                  + "; ".join(f"{s.uid} ({len(s.slices)} slices)" for s in scan.series))
