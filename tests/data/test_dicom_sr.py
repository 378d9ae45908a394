"""Landmarks as a DICOM SR (TID 1500): written on a phantom series, read back, validated by dciodvfy."""
import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from data.dicom_sr import (COMPREHENSIVE_3D_SR, SCHEME, frame_of_reference_of, landmark_codes, read_landmark_sr,
                           source_datasets, write_landmark_sr)
from data.errors import InputError
from data.landmark_defs import load_definition
from data.landmark_io import read_landmarks, write_landmarks
from data.landmarks import LandmarkSet
from data.phantom import write_case

# a small phantom (64 x 64 pixels of 4 mm, 5 mm slices) whose field of view cuts off one landmark
PHANTOM = dict(size=64, pixel_spacing=4.0, slice_spacing=5.0, metal=False)
SEED = 2
NO_COORDS = "ANS"  # given no coordinates at all (absent, NaN) on top of the cut-off one


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sr") / "case"
    write_case(folder, SEED, **PHANTOM)
    truth = read_landmarks(folder / "landmarks.csv")
    outside = [n for n, p in zip(truth.names, truth.present) if not p]
    assert outside and NO_COORDS not in outside, "phantom seed no longer cuts off a landmark"
    coords, present = truth.coords.copy(), truth.present.copy()
    coords[truth.index(NO_COORDS)] = np.nan
    present[truth.index(NO_COORDS)] = False
    lm = LandmarkSet(truth.names, coords, present, truth.descriptions)
    csv = write_landmarks(folder / "expected.csv", lm)
    sources = source_datasets(folder / "dicom")
    sr = write_landmark_sr(folder / "landmarks_sr.dcm", sources, lm, algorithm_parameters=["model bundle test-bundle"])
    return {"folder": folder, "csv": csv, "sr": sr, "sources": sources, "outside": outside}


def test_read_back_equals_csv_absent_included(case):
    expected = read_landmarks(case["csv"])
    back = read_landmarks(case["sr"])  # the .dcm hook of data.landmark_io
    assert back.names == expected.names
    assert np.array_equal(back.present, expected.present)
    assert back.equals(expected, atol=1e-3)
    have = np.isfinite(expected.coords).all(axis=1)
    assert np.all(np.isfinite(back.coords[have]))
    assert np.abs(back.coords[have] - expected.coords[have]).max() < 1e-3  # outside-scan points included
    assert np.isnan(back[NO_COORDS]).all() and not back.present[back.index(NO_COORDS)]
    for name in case["outside"]:
        i = back.index(name)
        assert not back.present[i] and back.extra["inside"][i] == "no" and np.isfinite(back.coords[i]).all()


def test_identity_uids_frame_of_reference_and_codes(case):
    import highdicom as hd

    ds = pydicom.dcmread(case["sr"])
    src = case["sources"][0]
    assert ds.SOPClassUID == COMPREHENSIVE_3D_SR and ds.Modality == "SR"
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    for key in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyID",
                "StudyDate", "StudyTime", "AccessionNumber"):
        assert ds.get(key) == src.get(key), key
    assert ds.SeriesInstanceUID not in {s.SeriesInstanceUID for s in case["sources"]}
    assert ds.SOPInstanceUID not in {s.SOPInstanceUID for s in case["sources"]}
    assert frame_of_reference_of(case["sr"]) == {src.FrameOfReferenceUID}
    evidence = {r.ReferencedSOPInstanceUID for st in ds.CurrentRequestedProcedureEvidenceSequence
                for se in st.ReferencedSeriesSequence for r in se.ReferencedSOPSequence}
    assert evidence == {s.SOPInstanceUID for s in case["sources"]}
    assert SCHEME in {c.CodingSchemeDesignator for c in ds.CodingSchemeIdentificationSequence}

    report = hd.sr.Comprehensive3DSR.from_dataset(ds)
    points = report.content.get_planar_roi_measurement_groups()
    assert len(points) == len(read_landmarks(case["csv"])) - 1  # the one without coordinates has no point
    nasion = [g for g in points if g.tracking_identifier == "N"][0]
    assert (nasion.finding_type.value, nasion.finding_type.scheme_designator) == ("264779", "FMA")
    assert nasion.roi.graphic_type.value == "POINT"
    texts = set()
    stack = list(ds.ContentSequence)
    while stack:
        item = stack.pop()
        if item.ValueType == "TEXT":
            texts.add(str(item.TextValue))
        stack.extend(item.get("ContentSequence", []))
    assert {"Landmark Cascade", "model bundle test-bundle"} <= texts


def test_dciodvfy_reports_no_errors(case):
    exe = shutil.which("dciodvfy")
    if exe is None:
        pytest.skip("dciodvfy not installed (Debian package dicom3tools; .ci/run installs it)")
    res = subprocess.run([exe, str(case["sr"])], capture_output=True, text=True, timeout=60)
    lines = (res.stdout + res.stderr).splitlines()
    assert "Comprehensive3DSR" in lines, lines[:5]
    errors = [ln for ln in lines if ln.startswith("Error")]
    assert not errors, errors


def test_codes_cover_craniofacial16():
    table = landmark_codes()
    definition = load_definition("craniofacial16")
    for name, full in zip(definition.names, definition.full_names):
        code = table[name]
        assert code.scheme in {"SCT", "DCM", "FMA", SCHEME}
        assert code.meaning == full
        assert 0 < len(code.value) <= 16
        assert code.laterality == ("R" if "(right)" in full else "L" if "(left)" in full else "")
    assert (table["N"].value, table["N"].scheme) == ("264779", "FMA")


def test_not_a_landmark_sr(case):
    ct_slice = sorted((case["folder"] / "dicom").iterdir())[0]
    with pytest.raises(InputError, match="not a TID 1500"):
        read_landmark_sr(ct_slice)
    with pytest.raises(InputError, match="not a DICOM file"):
        read_landmark_sr(case["csv"])


def test_evaluate_accepts_an_sr_as_prediction(case):
    from cascade.evaluation.cli import evaluate

    errors = evaluate(case["sr"], case["folder"] / "landmarks.csv").errors
    ok = errors[errors.status == "ok"]
    assert len(ok) == len(read_landmarks(case["csv"])) - 1 - len(case["outside"])
    assert ok.error_mm.max() < 1e-3


def test_run_pipeline_dicom_sr(case, tmp_path, capsys):
    """--dicom-sr: landmarks_sr.dcm beside the CSV, equal to it; a NIfTI scan gets a one-line error."""
    from cascade.pipeline import cli as run_pipeline
    from cascade.bundle import DEMO_BUNDLE
    from data.load import load_volume
    from data.nifti import write_nifti

    nifti = write_nifti(load_volume(case["folder"] / "dicom"), tmp_path / "scan.nii.gz")
    out = tmp_path / "out"
    rc = run_pipeline.main([str(case["folder"] / "dicom"), str(nifti), "--dicom-sr", "--quiet", "--out", str(out),
                            "--models", str(DEMO_BUNDLE)])
    assert rc == 2
    errors = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and "scan.nii.gz: --dicom-sr needs DICOM input" in errors[0]
    (sr,) = out.glob("*/landmarks_sr.dcm")  # the DICOM scan's case folder
    csv = read_landmarks(sr.parent / "landmarks.csv")
    back = read_landmarks(sr)
    assert back.equals(csv, atol=1e-3)
    assert back.extra["inside"] == csv.extra["inside"]
    assert frame_of_reference_of(sr) == {case["sources"][0].FrameOfReferenceUID}


def test_prediction_states_round_trip(case, tmp_path):
    """A prediction's outside-scan point stays a point (present), with its inside, state and note."""
    truth = read_landmarks(case["csv"])
    names = truth.names[:3]
    coords = np.nan_to_num(truth.coords[:3])
    extra = {"inside": ["yes", "no", "yes"], "state": ["ok", "outside_scan", "uncertain"],
             "note": ["", "1.5 mm below the first slice", "uncertainty 6.2 mm > 4 mm"],
             "review": ["no", "yes", "yes"], "uncertainty_mm": [1.25, 3.5, 6.2]}
    lm = LandmarkSet(names, coords, [True, True, True], extra=extra)
    sr = write_landmark_sr(tmp_path / "pred_sr.dcm", case["sources"], lm)
    back = read_landmarks(sr)
    assert back.present.tolist() == [True, True, True]
    assert back.extra == extra
    assert np.abs(back.coords - coords).max() < 1e-3
    exe = shutil.which("dciodvfy")
    if exe is not None:  # the state, note and uncertainty items conform too
        res = subprocess.run([exe, str(sr)], capture_output=True, text=True, timeout=60)
        errors = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.startswith("Error")]
        assert not errors, errors
