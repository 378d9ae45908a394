"""Per-landmark uncertainty and the review flag (issue 12): the measurements, the calibration, the
flag on a case made to fail, and every output format carrying it."""
import json

import numpy as np
import pandas as pd
import pytest

from cascade.confidence import (Calibration, Confidence, TTA_SHIFT, atlas_spread, rms_spread, shape_residual,
                                shape_spread, start_offsets)
from data.errors import InputError


def test_start_offsets_follow_the_scan_axes():
    dirs = np.array([[0, 0, 1.0], [0, 1.0, 0], [1.0, 0, 0]])  # columns: k along S (z), i along P (y), j along L (x)
    off = start_offsets(dirs, 6.0)
    assert off.shape == (6, 3)
    assert np.allclose(np.linalg.norm(off, axis=1), TTA_SHIFT * 6.0)
    assert np.allclose(off[0], [0, 0, TTA_SHIFT * 6.0]) and np.allclose(off[2], [TTA_SHIFT * 6.0, 0, 0]) and np.allclose(off[3], -off[0])


def test_spreads():
    pts = np.zeros((4, 2, 3))
    pts[:2, 1, 0], pts[2:, 1, 0] = 1.0, -1.0  # landmark 1: answers at +-1 mm, landmark 0 all agree
    assert np.allclose(rms_spread(pts), [0.0, 1.0])
    fused = np.zeros((2, 3))
    assert np.allclose(atlas_spread(pts[:1], fused), 0.0)  # one atlas: nothing to disagree with
    assert np.allclose(atlas_spread(pts, fused), [0.0, 1.0])
    assert np.allclose(atlas_spread(None, fused), 0.0)


def _rotation(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])


def test_shape_residual_finds_the_point_that_left_the_face():
    rng = np.random.default_rng(0)
    ref = rng.normal(scale=40.0, size=(16, 3))
    pts = 1.1 * ref @ _rotation(20).T + [5.0, -3.0, 12.0]  # the same head, posed and scaled
    assert np.nanmax(shape_residual(pts, ref)) < 1e-6
    wrong = pts.copy()
    wrong[4] += [30.0, 0, 0]  # a crop that locked onto another structure
    res = shape_residual(wrong, ref)
    assert res[4] == pytest.approx(30.0, abs=0.5) and np.delete(res, 4).max() < 0.5  # the fit ignores it
    ref_missing = ref.copy()
    ref_missing[2] = np.nan
    res = shape_residual(wrong, ref_missing)
    assert np.isnan(res[2]) and res[4] == pytest.approx(30.0, abs=0.5)
    assert np.allclose(shape_spread(wrong, []), 0.0)
    assert shape_spread(wrong, [ref, ref_missing])[2] == pytest.approx(0.0, abs=1e-6)  # one reference has it


def test_review_flag_and_reasons():
    cal = Calibration(scale=2.0, atlas_weight=0.0, shape_weight=1.0, review_mm=4.0)
    c = Confidence(shift_mm=np.array([0.5, 1.0, 0.1]), atlas_mm=np.array([9.0, 9.0, 9.0]),
                   shape_mm=np.array([0.0, 2.0, 0.0]), move_mm=np.array([1.0, 1.0, 12.0]), move_limit_mm=10.0,
                   calibration=cal)
    assert np.allclose(c.uncertainty_mm, [1.0, 2 * np.hypot(1.0, 2.0), 0.2])
    assert list(c.review) == [False, True, True]
    reasons = c.reasons()
    assert reasons[0] == "" and reasons[1].startswith("uncertainty 4.5 mm > 4 mm") and "moved it 12.0 mm" in reasons[2]


def test_bundle_calibration_is_read_and_checked(tmp_path):
    from cascade.bundle import DEMO_BUNDLE, Bundle

    b = Bundle.open(DEMO_BUNDLE)
    b.info["calibration"] = {"scale": 2.5, "atlas_weight": 0.5, "shape_weight": 1.0, "review_mm": 3.0}
    assert b.calibration() == Calibration(2.5, 0.5, 1.0, 3.0)
    b.info["calibration"] = {"scale": "x"}
    with pytest.raises(InputError, match="bad uncertainty calibration"):
        b.calibration()
    b.info.pop("calibration")
    assert b.calibration() == Calibration()


# --- end to end with the demo bundle on a small synthetic head ------------------------------------

@pytest.fixture(scope="module")
def demo_run():
    from cascade.bundle import DEMO_BUNDLE
    from cascade.predict import Cascade
    from data.phantom import generate_case

    vol, truth, _ = generate_case(5)
    return Cascade.load(DEMO_BUNDLE), vol, truth


def test_a_clean_case_is_not_flagged_and_a_blanked_region_is(demo_run):
    from cascade.evaluation.metrics import radial_errors
    from cascade.schema import OK, UNCERTAIN

    cascade, vol, truth = demo_run
    pred = cascade.predict(vol)
    err = radial_errors(pred.final, truth.coords, truth.present)
    states, _ = pred.states(vol)
    good = err < 4.0
    assert np.mean([s == OK for s, g in zip(states, good) if g]) >= 0.8  # the good points stay ok
    assert pred.confidence.uncertainty_mm.shape == (len(pred.names),)
    # blank the bone around sella (air, 25 mm around it): the crops see nothing there
    n = pred.names.index("S")
    from data.volume import Volume

    arr = vol.array.copy()
    k, i, j = np.meshgrid(*[np.arange(s) for s in arr.shape], indexing="ij")
    lps = vol.index_to_lps(np.stack([k, i, j], -1).reshape(-1, 3).astype(float)).reshape(*arr.shape, 3)
    arr[np.linalg.norm(lps - truth.coords[n], axis=-1) < 25.0] = -1000.0
    blank = Volume(arr, vol.affine, dict(vol.meta))
    bad = cascade.predict(blank)
    states, notes = bad.states(blank)
    assert states[n] == UNCERTAIN, (states[n], bad.confidence.uncertainty_mm[n])
    assert "uncertainty" in notes[n] or "moved it" in notes[n]
    assert bad.confidence.uncertainty_mm[n] > pred.confidence.uncertainty_mm[n]


def test_every_output_format_carries_review_and_uncertainty(demo_run, tmp_path):
    from cascade.pipeline.case_run import state_counts, write_prediction
    from cascade.schema import REVIEW, STATE, UNCERTAIN, UNCERTAINTY
    from data.landmark_io import read_landmarks

    cascade, vol, _ = demo_run
    pred = cascade.predict(vol)
    # force one uncertain point: a calibration whose threshold sits between two landmarks' values
    u = pred.confidence.uncertainty_mm
    order = np.argsort(u)
    cal = pred.confidence.calibration
    pred.confidence.calibration = Calibration(cal.scale, cal.atlas_weight, cal.shape_weight,
                                              float((u[order[-1]] + u[order[-2]]) / 2))
    lm = pred.landmark_set(vol)
    flagged = int(order[-1])
    assert lm.extra[STATE][flagged] == UNCERTAIN and lm.extra[REVIEW][flagged] == "yes"
    assert state_counts(lm)["review"] >= 1 and state_counts(lm)[UNCERTAIN] >= 1
    paths = {p.name: p for p in write_prediction(tmp_path, lm, tmp_path / "scan")}
    df = pd.read_csv(paths["landmarks.csv"], keep_default_na=False)
    assert list(df.columns[-4:]) == ["state", "note", "review", "uncertainty_mm"]
    assert df["review"].iloc[flagged] == "yes" and df["uncertainty_mm"].dtype == float
    assert np.allclose(df["uncertainty_mm"], np.round(u, 4))
    doc = json.loads(paths["landmarks.json"].read_text())
    assert doc["landmarks"][flagged]["review"] is True and isinstance(doc["landmarks"][0]["uncertainty_mm"], float)
    mrk = json.loads(paths["landmarks.mrk.json"].read_text())["markups"][0]["controlPoints"]
    assert mrk[flagged]["selected"] is False and mrk[flagged]["description"].startswith("uncertain: uncertainty")
    assert mrk[flagged]["positionStatus"] == "defined"
    fcsv = [ln for ln in paths["landmarks.fcsv"].read_text().splitlines() if not ln.startswith("#")]
    assert "uncertain: uncertainty" in fcsv[flagged]
    for name in ("landmarks.csv", "landmarks.json", "landmarks.mrk.json", "landmarks.fcsv"):
        back = read_landmarks(paths[name])
        assert back.extra[REVIEW][flagged] == "yes" and back.extra[STATE][flagged] == UNCERTAIN, name
        assert float(back.extra[UNCERTAINTY][flagged]) == pytest.approx(u[flagged], abs=1e-3), name


def test_review_threshold_option(demo_run, tmp_path, capsys):
    """``--review-mm``: a threshold below every uncertainty flags every point (summary and table);
    a value that is not a positive number is refused before any work."""
    import pandas as pd

    from cascade.bundle import DEMO_BUNDLE
    from cascade.pipeline.cli import main
    from data.nifti import write_nifti

    _, vol, _ = demo_run
    scan = write_nifti(vol, tmp_path / "head.nii.gz")
    out = tmp_path / "out"
    assert main([str(scan), "--models", str(DEMO_BUNDLE), "--out", str(out), "--review-mm", "0.001"]) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert summary["review"].iloc[0] == 16 and summary["uncertain"].iloc[0] == 16
    table = capsys.readouterr().out
    assert "+-mm" in table and table.count("uncertain") >= 16
    with pytest.raises(SystemExit) as exc:
        main([str(scan), "--models", str(DEMO_BUNDLE), "--out", str(tmp_path / "o2"), "--review-mm", "-3"])
    assert exc.value.code == 2 and "positive number of millimetres" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()
