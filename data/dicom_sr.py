"""Landmarks as a DICOM Structured Report (Comprehensive 3D SR, TID 1500), written with highdicom, and read back.

One TID 1500 *Imaging Measurement Report* per scan; under *Imaging Measurements*, one measurement
group per landmark, in the landmark set's order:

* **TID 1410** (planar ROI) when the landmark has coordinates: *Tracking Identifier* = the
  landmark's name (a new Tracking UID each), *Finding* = the landmark's coded concept,
  *Finding Site* = the bone or structure it lies on (with laterality), *Image Region* = a
  SCOORD3D ``POINT`` (x, y, z in LPS mm; the phase-3 estimate for predictions) whose
  ReferencedFrameOfReferenceUID is the source series' FrameOfReferenceUID, and the algorithm
  (TID 4019: name, version, model bundle).
* **TID 1501** (no region) for a landmark without coordinates (absent, NaN): it reads back as
  absent with NaN coordinates.
* Every group carries the qualitative evaluation ``(INSIDE, 99LMCASCADE, "Inside scanned volume")``
  = ``(373066001, SCT, "Yes")`` or ``(373067005, SCT, "No")``: the set's ``inside`` column when it
  has one (predictions: whether the estimate lies inside the scan; a point outside is kept, with
  its coordinates, and evaluation No), else its ``present`` flag.
* When the set has a ``state`` column (predictions, ``cascade.schema``), each group also carries
  ``(STATE, 99LMCASCADE, "Landmark state")`` = ``(<state>, 99LMCASCADE, <state>)`` (``ok``,
  ``outside_scan``, ``far_from_bone``, ``absent``) and, for a non-empty ``note``, a TEXT item
  ``(NOTE, 99LMCASCADE, "Landmark state note")``. On read, such a group's point is present unless
  its state is ``absent``; a group without a state (a truth set, an older SR) is present only when
  inside (evaluation Yes), as before.
* When the set has an ``uncertainty_mm`` column (``cascade.confidence``), each group carries a NUM
  measurement ``(UNCERT, 99LMCASCADE, "Landmark uncertainty")`` in mm (UCUM ``mm``); read back as
  ``uncertainty_mm``, with ``review`` (yes for every state but ``ok``) from the state.

Landmark concepts come from ``data/landmark_codes.csv``: standard codes where DICOM PS3.16 has
one (Nasion: ``(264779, FMA)``, as in CID 1002), else the project's private coding scheme
:data:`SCHEME` (``99LMCASCADE``: code value = the landmark's short name), declared in the SR's
Coding Scheme Identification Sequence. Finding sites are SNOMED CT codes from PS3.16. A name not
in the table gets a private code with its name as meaning (and needs at most 16 characters).

The SR copies patient and study identity from the source series (same StudyInstanceUID), has new
Series and SOP Instance UIDs, and lists the source instances as evidence.
"""
from __future__ import annotations

import csv
import hashlib
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from data.atomic import atomic_path
from data.errors import InputError
from cascade.schema import ABSENT, INSIDE, NOTE, REVIEW, STATE, UNCERTAINTY, YES, flagged, yes_no
from data.landmarks import LandmarkSet

ROOT = Path(__file__).resolve().parents[1]
CODES_CSV = Path(__file__).resolve().parent / "landmark_codes.csv"
SCHEME = "99LMCASCADE"
SCHEME_NAME = "Landmark Cascade landmark concepts"
ALGORITHM_NAME = "Landmark Cascade"
MANUFACTURER = "Landmark Cascade project"
SERIES_DESCRIPTION = "Landmark Cascade landmarks"
SERIES_NUMBER = 9901
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"

INSIDE_KEY = ("INSIDE", SCHEME)
STATE_KEY = ("STATE", SCHEME)
NOTE_KEY = ("NOTE", SCHEME)
UNCERT_KEY = ("UNCERT", SCHEME)
_YES, _NO = codes.SCT.Yes, codes.SCT.No  # (373066001, SCT) / (373067005, SCT), CID 230
_LATERALITY = {"R": codes.SCT.Right, "L": codes.SCT.Left}


@dataclass(frozen=True)
class LandmarkCode:
    """Coded concept of one landmark and of the structure it lies on."""

    name: str
    value: str
    scheme: str
    meaning: str
    site: tuple[str, str, str] | None = None  # (value, scheme, meaning)
    laterality: str = ""  # "R", "L" or ""


def landmark_codes(path: str | Path = CODES_CSV) -> dict[str, LandmarkCode]:
    """The landmark concept table (``data/landmark_codes.csv``), keyed by landmark name."""
    out = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            site = (r["site_value"], r["site_scheme"], r["site_meaning"]) if r["site_value"] else None
            out[r["name"]] = LandmarkCode(r["name"], r["code_value"], r["coding_scheme"], r["code_meaning"], site,
                                          r["laterality"])
    return out


def code_for(name: str, table: dict[str, LandmarkCode] | None = None) -> LandmarkCode:
    """The concept of landmark ``name``: from the table, else a private code (value = name)."""
    table = landmark_codes() if table is None else table
    if name in table:
        return table[name]
    if not 0 < len(name) <= 16:
        raise ValueError(f"landmark name {name!r}: a private code value needs 1-16 characters")
    return LandmarkCode(name, name, SCHEME, name)


def software_version() -> str:
    """This project's version (``pyproject.toml``), ``unknown`` when not found."""
    try:
        return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def bundle_parameters(bundle: Any) -> list[str]:
    """Algorithm parameters naming a model bundle: folder name, preset and a digest of ``bundle.json``."""
    path = Path(bundle.path)
    manifest = path / "bundle.json"
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest()[:16] if manifest.exists() else "unknown"
    preset = getattr(getattr(bundle, "config", None), "preset", "unknown")
    return [f"model bundle {path.name}", f"preset {preset}", f"bundle.json sha256 {digest}"]


# --------------------------------------------------------------------------- source series
def source_datasets(scan: str | Path, series_uid: str | None = None) -> list[Dataset]:
    """Headers (no pixels) of the instances of the series read from ``scan`` (same choice as the reader)."""
    from data.dicom_scan import choose_series, scan_folder

    series = choose_series(scan_folder(scan), series_uid)
    paths = list(dict.fromkeys(s.path for s in series.slices))
    return [pydicom.dcmread(p, stop_before_pixels=True) for p in paths]


def _is_yes(value: Any) -> bool:
    """An ``inside`` value (yes/no text or a bool) as a bool."""
    return bool(value) if isinstance(value, (bool, np.bool_)) else str(value).strip().lower() in (YES, "true", "1")


def _frame_of_reference(where: object, sources: Sequence[Dataset]) -> str:
    uids = {str(ds.get("FrameOfReferenceUID", "")) for ds in sources}
    if uids == {""} or "" in uids:
        raise InputError(where, "source series has no FrameOfReferenceUID: cannot write a DICOM SR")
    if len(uids) > 1:
        raise InputError(where, f"source series has {len(uids)} FrameOfReferenceUIDs")
    return uids.pop()


# --------------------------------------------------------------------------- writing
def build_landmark_sr(sources: Sequence[Dataset], landmarks: LandmarkSet, *,
                      algorithm_parameters: Sequence[str] = (), where: object = "source series",
                      sop_instance_uid: str | None = None, series_instance_uid: str | None = None) -> Dataset:
    """A Comprehensive 3D SR (TID 1500) of ``landmarks`` (LPS mm) on the source series ``sources``.

    ``sources`` are the source instances' datasets (headers suffice); ``algorithm_parameters``
    identify the model (see :func:`bundle_parameters`). Raises ``InputError`` naming ``where``
    when the sources lack a single FrameOfReferenceUID.
    """
    import highdicom as hd

    if not sources:
        raise InputError(where, "no source instances for the DICOM SR")
    frame_uid = _frame_of_reference(where, sources)
    version = software_version()
    table = landmark_codes()
    algorithm = hd.sr.AlgorithmIdentification(name=ALGORITHM_NAME, version=version,
                                              parameters=list(algorithm_parameters) or None)
    inside_name = hd.sr.CodedConcept(INSIDE_KEY[0], INSIDE_KEY[1], "Inside scanned volume")
    state_name = hd.sr.CodedConcept(STATE_KEY[0], STATE_KEY[1], "Landmark state")
    note_name = hd.sr.CodedConcept(NOTE_KEY[0], NOTE_KEY[1], "Landmark state note")
    uncert_name = hd.sr.CodedConcept(UNCERT_KEY[0], UNCERT_KEY[1], "Landmark uncertainty")
    inside_col, states = landmarks.extra.get(INSIDE), landmarks.extra.get(STATE)
    uncertainty = landmarks.extra.get(UNCERTAINTY)
    notes = landmarks.extra.get(NOTE) or [""] * len(landmarks)
    groups = []
    for n, name in enumerate(landmarks.names):
        lc = code_for(name, table)
        tracking = hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=name)
        finding = hd.sr.CodedConcept(lc.value, lc.scheme, lc.meaning)
        sites = None
        if lc.site is not None:
            sites = [hd.sr.FindingSite(anatomic_location=hd.sr.CodedConcept(*lc.site),
                                       laterality=_LATERALITY.get(lc.laterality))]
        inside = landmarks.present[n] if inside_col is None else _is_yes(inside_col[n])
        evaluation = [hd.sr.QualitativeEvaluation(name=inside_name, value=_YES if inside else _NO)]
        if states is not None:
            evaluation.append(hd.sr.QualitativeEvaluation(
                name=state_name, value=hd.sr.CodedConcept(str(states[n]), SCHEME, str(states[n]))))
        xyz = landmarks.coords[n]
        measurements = None
        if uncertainty is not None and np.isfinite(float(uncertainty[n])):
            measurements = [hd.sr.Measurement(name=uncert_name, value=float(uncertainty[n]), unit=codes.UCUM.Millimeter)]
        common = dict(tracking_identifier=tracking, finding_type=finding, finding_sites=sites,
                      algorithm_id=algorithm, qualitative_evaluations=evaluation, measurements=measurements)
        if np.all(np.isfinite(xyz)):
            region = hd.sr.ImageRegion3D(graphic_type=hd.sr.GraphicTypeValues3D.POINT,
                                         graphic_data=np.asarray([xyz], float), frame_of_reference_uid=frame_uid)
            groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(referenced_region=region, **common))
        else:
            groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(**common))
        if states is not None and notes[n]:
            groups[-1][0].ContentSequence.append(hd.sr.TextContentItem(
                name=note_name, value=str(notes[n])[:1024], relationship_type=hd.sr.RelationshipTypeValues.CONTAINS))
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=generate_uid(entropy_srcs=[ALGORITHM_NAME, version]), name=ALGORITHM_NAME,
        manufacturer_name=MANUFACTURER, model_name=f"{ALGORITHM_NAME} {version}")
    context = hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
        observer_type=codes.DCM.Device, observer_identifying_attributes=device))
    report = hd.sr.MeasurementReport(observation_context=context, procedure_reported=codes.SCT.ComputedTomography,
                                     imaging_measurements=groups)
    scheme = hd.coding_schemes.CodingSchemeIdentificationItem(
        designator=SCHEME, name=SCHEME_NAME, responsible_organization=MANUFACTURER)
    with warnings.catch_warnings():  # identity is copied as the source has it, odd person names included
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name")
        return hd.sr.Comprehensive3DSR(
            evidence=list(sources), content=report[0],
            series_instance_uid=series_instance_uid or generate_uid(), series_number=SERIES_NUMBER,
            sop_instance_uid=sop_instance_uid or generate_uid(), instance_number=1,
            manufacturer=MANUFACTURER, manufacturer_model_name=ALGORITHM_NAME, software_versions=version,
            series_description=SERIES_DESCRIPTION, coding_schemes=[scheme], is_complete=True)


def write_landmark_sr(path: str | Path, sources: Sequence[Dataset], landmarks: LandmarkSet, *,
                      algorithm_parameters: Sequence[str] = (), where: object = "source series") -> Path:
    """Build the SR (:func:`build_landmark_sr`) and write it atomically to ``path``; returns ``path``."""
    sr = build_landmark_sr(sources, landmarks, algorithm_parameters=algorithm_parameters, where=where)
    path = Path(path)
    with atomic_path(path) as tmp:
        sr.save_as(tmp, enforce_file_format=True)
    return path


def write_prediction_sr(path: str | Path, scan: str | Path, landmarks: LandmarkSet, bundle: Any,
                        series_uid: str | None = None) -> Path:
    """The SR of one predicted scan (``run_pipeline.py --dicom-sr``): sources read from ``scan``.

    ``series_uid`` is the series the volume was read from (``vol.meta["series_uid"]``).
    """
    from data.load import is_nifti

    if is_nifti(scan):
        raise InputError(scan, "--dicom-sr needs DICOM input (the SR references the source series)")
    return write_landmark_sr(path, source_datasets(scan, series_uid), landmarks,
                             algorithm_parameters=bundle_parameters(bundle), where=scan)


# --------------------------------------------------------------------------- reading
def _code_key(item: Dataset, attr: str) -> tuple[str, str] | None:
    seq = item.get(attr)
    if not seq:
        return None
    return str(seq[0].CodeValue), str(seq[0].CodingSchemeDesignator)


def _key(code: Any) -> tuple[str, str]:
    return str(code.value), str(code.scheme_designator)


def _children(item: Dataset) -> list[Dataset]:
    return list(item.get("ContentSequence", []))


def _group(path: Path, n: int, group: Dataset) -> tuple[str, list[float], bool, str, bool, str | None, str, float | None]:
    """(name, xyz, present, finding meaning, inside, state or None, note, uncertainty mm or None) of one
    measurement group."""
    where = f"measurement group {n}"
    name, xyz, inside, meaning, state, note, uncertainty = None, [np.nan] * 3, None, "", None, "", None
    for item in _children(group):
        concept = _code_key(item, "ConceptNameCodeSequence")
        if concept == _key(codes.DCM.TrackingIdentifier) and item.ValueType == "TEXT":
            name = str(item.TextValue)
        elif concept == _key(codes.DCM.Finding) and item.ValueType == "CODE":
            meaning = str(item.ConceptCodeSequence[0].CodeMeaning)
        elif concept == _key(codes.DCM.ImageRegion) and item.ValueType == "SCOORD3D":
            if item.GraphicType != "POINT":
                raise InputError(path, f"{where}: image region is a {item.GraphicType}, not a POINT")
            data = [float(v) for v in item.GraphicData]
            if len(data) != 3:
                raise InputError(path, f"{where}: POINT with {len(data)} values, expected 3")
            xyz = data
        elif concept == INSIDE_KEY and item.ValueType == "CODE":
            inside = _code_key(item, "ConceptCodeSequence") == _key(_YES)
        elif concept == STATE_KEY and item.ValueType == "CODE":
            state = str(item.ConceptCodeSequence[0].CodeValue)
        elif concept == NOTE_KEY and item.ValueType == "TEXT":
            note = str(item.TextValue)
        elif concept == UNCERT_KEY and item.ValueType == "NUM" and item.get("MeasuredValueSequence"):
            uncertainty = float(item.MeasuredValueSequence[0].NumericValue)
    if not name:
        raise InputError(path, f"{where}: no tracking identifier (landmark name)")
    finite = bool(np.all(np.isfinite(xyz)))
    inside = finite if inside is None else inside
    present = finite and (state != ABSENT if state is not None else inside)
    return name, xyz, present, meaning, inside, state, note, uncertainty


def read_landmark_sr(path: str | Path) -> LandmarkSet:
    """A TID 1500 SR with one point per measurement group (as written here) -> ``LandmarkSet`` (LPS mm).

    Names come from the tracking identifiers, coordinates from the SCOORD3D POINTs, the extra
    column ``inside`` (yes/no, as in ``run_pipeline.py``'s CSV) from the *Inside scanned volume*
    evaluation, ``state`` and ``note`` (when the SR has them) from the *Landmark state* items;
    ``present`` as the module docstring says. A group without a point is absent. Descriptions:
    the finding's meaning.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        raise InputError(path, "not a DICOM file") from None
    except Exception as exc:  # truncated or corrupt
        raise InputError(path, f"cannot be parsed as DICOM: {exc}") from None
    templates = [str(t.get("TemplateIdentifier", "")) for t in ds.get("ContentTemplateSequence", [])]
    if ds.get("Modality") != "SR" or "1500" not in templates:
        raise InputError(path, "not a TID 1500 measurement report (DICOM SR)")
    containers = [c for c in _children(ds) if _code_key(c, "ConceptNameCodeSequence") == _key(codes.DCM.ImagingMeasurements)]
    if not containers:
        raise InputError(path, "SR has no Imaging Measurements container")
    groups = [g for g in _children(containers[0])
              if _code_key(g, "ConceptNameCodeSequence") == _key(codes.DCM.MeasurementGroup)]
    if not groups:
        raise InputError(path, "no landmarks in SR (no measurement groups)")
    rows = [_group(path, n, g) for n, g in enumerate(groups, 1)]
    names = [r[0] for r in rows]
    dup = sorted({x for x in names if names.count(x) > 1})
    if dup:
        raise InputError(path, f"duplicate landmark names {', '.join(dup)}")
    present = np.array([r[2] for r in rows], bool)
    extra = {INSIDE: yes_no(r[4] for r in rows)}
    if any(r[5] is not None for r in rows):
        extra.update({STATE: [r[5] or "" for r in rows], NOTE: [r[6] for r in rows],
                      REVIEW: yes_no(flagged(r[5]) for r in rows)})
    if any(r[7] is not None for r in rows):
        extra[UNCERTAINTY] = [np.nan if r[7] is None else r[7] for r in rows]
    return LandmarkSet(names, np.array([r[1] for r in rows], float), present, [r[3] for r in rows], extra)


def frame_of_reference_of(path: str | Path) -> set[str]:
    """The ReferencedFrameOfReferenceUIDs of the points of an SR file."""
    ds = pydicom.dcmread(path)
    out: set[str] = set()
    stack = list(_children(ds))
    while stack:
        item = stack.pop()
        if item.get("ValueType") == "SCOORD3D":
            out.add(str(item.ReferencedFrameOfReferenceUID))
        stack.extend(_children(item))
    return out
