"""End to end: generate cases, train all three phases (tiny, a couple of minutes), predict.

The refinement must work: on held-out generated cases the phase-3 error is clearly below the
phase-1 error. Then run_pipeline.py runs on written DICOM cases with that bundle.
"""
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cascade.bundle import Bundle
from cascade.config import tiny
from cascade.evaluation.metrics import mean_radial_error
from cascade.predict import Cascade
from cascade.case import Case
from data.landmark_io import read_landmarks
from data.phantom import generate_case, write_case
from phases.trainer import train_phase


@pytest.fixture(autouse=True)
def _deterministic_ops():
    """Identical reruns need TensorFlow's deterministic ops (the training CLI switches them on)."""
    from phases.trainer import make_deterministic

    make_deterministic()

ROOT = Path(__file__).resolve().parents[2]
# small scans covering the whole head: 2 mm pixels, 3 mm slices; every landmark in view
PHANTOM = dict(size=112, pixel_spacing=2.0, slice_spacing=3.0, fov_cut=False, metal=False, uneven=False,
               oblique=False)
TRAIN, TEST = range(1000, 1020), range(1020, 1024)


def quick_config():
    """Tiny networks trained long enough to learn: more local epochs, wider phase-2 shifts."""
    c = tiny()
    local = dict(crops_per_case=16, net=replace(c.phase2.net, epochs=20, batch_size=8, learning_rate=2e-3))
    return replace(
        c, preset="integration-test",
        phase1=replace(c.phase1, net=replace(c.phase1.net, epochs=30, learning_rate=3e-3)),
        phase2=replace(c.phase2, shift_mm=25.0, **local),
        phase3=replace(c.phase3, shift_mm=8.0, **local),
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    config = quick_config()
    raw = {s: generate_case(s, **PHANTOM) for s in list(TRAIN) + list(TEST)}
    names = raw[TRAIN[0]][1].names
    cases = [Case.for_cascade(config, str(s), raw[s][0], raw[s][1], names) for s in TRAIN]
    bundle = Bundle.create(tmp_path_factory.mktemp("bundle"), config, names)
    for phase in (1, 2, 3):
        train_phase(bundle, phase, cases, [], seed=0, verbose=0)
    return bundle, raw


def test_phase3_beats_phase1_on_held_out_cases(trained):
    bundle, raw = trained
    cascade = Cascade(bundle)
    errors = []
    for s in TEST:
        vol, truth, _ = raw[s]
        pred = cascade.predict(vol)
        errors.append([mean_radial_error(pred.estimates[p], truth.coords, truth.present) for p in range(3)])
        assert pred.inside.all()
    errors = np.array(errors)
    mre = errors.mean(axis=0)
    print("held-out mean radial error per phase (mm):", np.round(mre, 2))
    assert mre[2] < 0.7 * mre[0], mre
    assert (errors[:, 2] < errors[:, 0]).sum() >= 3, errors


def test_run_pipeline_on_generated_dicom(trained, tmp_path):
    bundle, _ = trained
    rows = [write_case(tmp_path / "in" / f"case{s}", s, **PHANTOM) for s in TEST[:2]]
    scans = [str(tmp_path / "in" / r["dicom_dir"]) for r in rows]
    truths = [str(tmp_path / "in" / r["landmarks"]) for r in rows]
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), *scans, "--models", str(bundle.path),
                          "--out", str(out), *[a for t in truths for a in ("--truth", t)]], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "mean 3D error (mm): phase 1:" in res.stdout
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["case"]) == [f"case{s}" for s in TEST[:2]]
    # a bad scan among good ones: reported, listed in the summary, the others still done, exit 2
    (tmp_path / "empty").mkdir()
    bad = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), scans[0], str(tmp_path / "empty"),
                          "--models", str(bundle.path), "--out", str(tmp_path / "out2"), "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "empty: folder is empty" in bad.stderr
    both = pd.read_csv(tmp_path / "out2" / "summary.csv")
    assert both["error"].isna().tolist() == [True, False]
    assert (tmp_path / "out2" / f"case{TEST[0]}" / "landmarks.csv").exists()
    assert (summary["phase3_mre_mm"] < summary["phase1_mre_mm"]).all()
    for case in summary["case"]:
        folder = out / case
        pred = read_landmarks(folder / "landmarks.csv")
        for fmt in ("fcsv", "mrk.json", "json"):
            assert read_landmarks(folder / f"landmarks.{fmt}").equals(pred, atol=1e-6)
        table = pd.read_csv(folder / "landmarks.csv")
        assert {"k", "i", "j", "phase1_x", "phase2_y", "phase3_z", "inside"} <= set(table.columns)
        errors = pd.read_csv(folder / "errors.csv")
        assert set(errors["phase"]) == {"phase1", "phase2", "phase3"} and len(errors) == 3 * len(pred)
        assert np.allclose(np.hypot(np.hypot(errors.dx_mm, errors.dy_mm), errors.dz_mm), errors.error_mm,
                           equal_nan=True)  # NaN: landmark absent from the truth (status absent_in_truth)
