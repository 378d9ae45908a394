"""Metrics with hand-computed values: per-axis and 3D errors, pixels (anisotropic too), SDR at its
boundary, PCK, NME, absent truth, missing and outside-scan predictions; case files and phases."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cascade.evaluation.inputs import find_cases, pair_cases, read_estimates
from cascade.evaluation.metrics import (ABSENT, MISSING, OK, OUTSIDE, PAPER_PX_MM, cumulative_share, error_table,
                             mean_radial_error, ordered_phases, pixel_errors, radial_errors, summarise, summary_row)
from data.errors import InputError
from data.landmark_io import write_landmarks
from data.landmarks import LandmarkSet


def one_phase(pred_xyz, truth_xyz, truth_present=None, inside=None, **kw) -> pd.DataFrame:
    names = [f"L{i}" for i in range(len(truth_xyz))]
    truth = LandmarkSet(names, np.array(truth_xyz, float), truth_present)
    return error_table(names, np.array([pred_xyz], float), truth, inside=inside, **kw)


def test_radial_errors_unchanged():
    assert radial_errors([[3, 4, 0]], [[0, 0, 0]]).tolist() == [5.0]
    assert math.isnan(radial_errors([[1, 1, 1]], [[0, 0, 0]], [False])[0])
    assert mean_radial_error([[3, 4, 0], [0, 0, 12]], [[0, 0, 0], [0, 0, 0]], [True, False]) == 5.0


def test_signed_absolute_and_3d_errors_by_hand():
    e = one_phase([[3.0, -4.0, 12.0]], [[0.0, 0.0, 0.0]], px_mm=0.5)
    row = e.iloc[0]
    assert (row.dx_mm, row.dy_mm, row.dz_mm) == (3.0, -4.0, 12.0)
    assert (row.abs_dx_mm, row.abs_dy_mm, row.abs_dz_mm) == (3.0, 4.0, 12.0)
    assert row.error_mm == 13.0 and row.error_px == 26.0 and row.nme == 13.0
    assert row.status == OK and row.inside == "yes" and row.phase == "phase1" and row.case == ""


def test_paper_pixels_and_anisotropic_pixels():
    e = one_phase([[3.0, 4.0, 0.0]], [[0.0, 0.0, 0.0]])
    assert e.error_px.iloc[0] == pytest.approx(5.0 * 512 / 500)  # 5.12 px of 500/512 mm
    assert PAPER_PX_MM == 500 / 512
    # d = (1, 2, 4) mm with pixels (0.5, 0.5, 2.0) mm -> (2, 4, 2) px -> sqrt(24)
    e = one_phase([[1.0, 2.0, 4.0]], [[0.0, 0.0, 0.0]], px_mm=(0.5, 0.5, 2.0))
    assert e.error_px.iloc[0] == pytest.approx(math.sqrt(24.0))
    assert e.error_mm.iloc[0] == pytest.approx(math.sqrt(21.0))
    assert pixel_errors([[0.0, 0.0, 3.0]], (1.0, 1.0, 3.0)).tolist() == [1.0]
    with pytest.raises(ValueError):
        pixel_errors([[1.0, 0, 0]], (1.0, 0.0, 1.0))


def test_sdr_boundary_exactly_2mm_counts_as_within():
    # errors exactly 2.0, just over 2.0, 2.5 exactly, 4.0 exactly
    e = one_phase([[2.0, 0, 0], [0, 2.0 + 1e-9, 0], [0, 0, 2.5], [0, 4.0, 0]], [[0, 0, 0]] * 4)
    assert e.error_mm.tolist()[0] == 2.0 and e.error_mm.tolist()[2] == 2.5
    s = summary_row(e)
    assert s["sdr_le_2mm_pct"] == 25.0       # only the exact 2.0
    assert s["sdr_le_2.5mm_pct"] == 75.0     # 2.0, 2.000000001, 2.5
    assert s["sdr_le_3mm_pct"] == 75.0
    assert s["sdr_le_4mm_pct"] == 100.0      # 4.0 exactly is within 4


def test_summary_statistics_by_hand():
    e = one_phase([[1, 0, 0], [0, 2, 0], [0, 0, 3], [6, 0, 0]], [[0, 0, 0]] * 4)
    s = summary_row(e, sdr_mm=[2.0], pck=[3.0])
    assert s["n"] == 4 and s["n_evaluated"] == 4
    assert s["mre_mm"] == 3.0 and s["median_mm"] == 2.5 and s["max_mm"] == 6.0
    assert s["sd_mm"] == pytest.approx(math.sqrt(14.0 / 3.0))  # sample SD (n-1)
    assert s["mae_x_mm"] == pytest.approx(7 / 4) and s["mae_y_mm"] == 0.5 and s["mae_z_mm"] == 0.75
    assert s["sdr_le_2mm_pct"] == 50.0 and s["pck_le_3_pct"] == 75.0 and s["nme"] == 3.0


def test_nme_with_numeric_and_landmark_normaliser():
    e = one_phase([[3, 4, 0], [0, 0, 10]], [[0, 0, 0], [0, 0, 10]], normaliser=2.0)
    assert e.nme.tolist() == [2.5, 0.0]
    assert summary_row(e, pck=[2.5])["pck_le_2.5_pct"] == 100.0
    e = one_phase([[3, 4, 0], [0, 0, 10]], [[0, 0, 0], [0, 0, 10]], normaliser=("L0", "L1"))  # true distance 10 mm
    assert e.nme.tolist() == [0.5, 0.0]
    e = one_phase([[3, 4, 0], [0, 0, 0]], [[0, 0, 0], [0, 0, 10]], truth_present=[True, False], normaliser=("L0", "L1"))
    assert math.isnan(e.nme.iloc[0])  # the normalising landmark is absent from the truth


def test_absent_in_truth_skipped_and_counted():
    e = one_phase([[1, 0, 0], [50, 0, 0]], [[0, 0, 0], [0, 0, 0]], truth_present=[True, False])
    assert e.status.tolist() == [OK, ABSENT] and math.isnan(e.error_mm.iloc[1])
    s = summary_row(e)
    assert s["n"] == 1 and s["n_absent_in_truth"] == 1 and s["mre_mm"] == 1.0 and s["sdr_le_2mm_pct"] == 100.0


def test_outside_scan_is_a_failure_but_its_error_counts_in_mre():
    e = one_phase([[1, 0, 0], [0.5, 0, 0]], [[0, 0, 0], [0, 0, 0]], inside=[True, False])
    assert e.status.tolist() == [OK, OUTSIDE] and e.inside.tolist() == ["yes", "no"]
    s = summary_row(e, pck=[1.0])
    assert s["n_outside_scan"] == 1 and s["n"] == 2
    assert s["mre_mm"] == 0.75  # its distance is real
    assert s["sdr_le_2mm_pct"] == 50.0 and s["pck_le_1_pct"] == 50.0  # 0.5 mm away, yet never within


def test_missing_prediction_is_a_failure_without_error():
    e = one_phase([[1, 0, 0], [np.nan] * 3], [[0, 0, 0], [0, 0, 0]])
    assert e.status.tolist() == [OK, MISSING] and pd.isna(e.inside.iloc[1])
    s = summary_row(e)
    assert s["n"] == 2 and s["n_evaluated"] == 1 and s["n_missing_prediction"] == 1
    assert s["mre_mm"] == 1.0 and s["sdr_le_2mm_pct"] == 50.0


def test_phases_inside_applies_to_final_estimate_and_summarise():
    truth = LandmarkSet(["A", "B"], [[0, 0, 0], [10, 0, 0]])
    est = np.array([[[0, 0, 4], [10, 0, 4]], [[0, 0, 1], [10, 0, 1]]], float)
    e = error_table(["A", "B"], est, truth, phases=["phase1", "phase2"], inside=[True, False], case="c")
    assert e.status.tolist() == [OK, OK, OK, OUTSIDE] and set(e.case) == {"c"}
    s = summarise(e).set_index(["phase", "landmark"])
    assert s.loc[("phase1", "all"), "mre_mm"] == 4.0 and s.loc[("phase2", "all"), "mre_mm"] == 1.0
    assert s.loc[("phase2", "all"), "sdr_le_2mm_pct"] == 50.0 and s.loc[("phase2", "B"), "n_outside_scan"] == 1
    assert cumulative_share(e[e.phase == "phase2"], [0.5, 1.0]).tolist() == [0.0, 50.0]


def test_ordered_phases():
    assert ordered_phases(["inter-observer", "phase3", "phase1", "final", "phase2"]) == \
        ["phase1", "phase2", "phase3", "final", "inter-observer"]
    assert ordered_phases([3, 1, 2, 1]) == [1, 2, 3]


def pipeline_file(path, inside=("yes", "no")):
    """A prediction file as run_pipeline.py writes it (two landmarks, three phases)."""
    extra = {f"phase{p}_{a}": [float(p * 10 + i), 0.0] for p in (1, 2, 3) for i, a in enumerate("xyz")}
    extra["inside"] = list(inside)
    lm = LandmarkSet(["A", "B"], [[30.0, 31.0, 32.0], [0, 0, 0]], [v == "yes" for v in inside], extra=extra)
    write_landmarks(path, lm)


def test_read_estimates_of_pipeline_and_plain_files(tmp_path):
    pipeline_file(tmp_path / "p.csv")
    est = read_estimates(tmp_path / "p.csv")
    assert est.phases == ["phase1", "phase2", "phase3"] and est.inside.tolist() == [True, False]
    assert est.coords[2, 0].tolist() == [30.0, 31.0, 32.0] and est.coords[0, 1].tolist() == [0.0, 0.0, 0.0]
    plain = LandmarkSet(["A", "B"], [[1, 2, 3], [4, 5, 6]], [True, False])
    write_landmarks(tmp_path / "r.fcsv", plain)
    est = read_estimates(tmp_path / "r.fcsv")
    assert est.phases == ["final"] and est.coords[0, 0].tolist() == [1, 2, 3]
    assert np.isnan(est.coords[0, 1]).all()  # absent in a rater's file = no estimate
    assert est.extended(["C", "A"]).names == ["A", "B", "C"]


def test_bad_phase_value_names_the_file(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("name,x,y,z,phase1_x,phase1_y,phase1_z\nA,1,2,3,oops,0,0\n")
    with pytest.raises(InputError, match=r"p\.csv: landmark 'A': phase1_x value 'oops' is not a number"):
        read_estimates(path)


def test_find_and_pair_cases(tmp_path):
    lm = LandmarkSet(["A"], [[0, 0, 0]])
    for rel in ("pred/c1/landmarks.csv", "pred/c1/landmarks.fcsv", "pred/c2.mrk.json", "truth/c1.fcsv",
                "truth/c2.json", "truth/c3.csv"):
        write_landmarks(tmp_path / rel, lm)
    (tmp_path / "pred" / "summary.csv").write_text("case,x\n")  # run_pipeline's table: skipped
    pred, truth = find_cases(tmp_path / "pred"), find_cases(tmp_path / "truth")
    assert pred.cases == {"c1": tmp_path / "pred/c1/landmarks.csv", "c2": tmp_path / "pred/c2.mrk.json"}
    pairs, notes = pair_cases(pred, truth)
    assert [p[0] for p in pairs] == ["c1", "c2"] and "c3" in notes[0]
    assert find_cases(tmp_path / "pred" / "c1" / "landmarks.csv").cases == {"c1": tmp_path / "pred/c1/landmarks.csv"}
    single = find_cases(tmp_path / "truth" / "c3.csv")
    assert single.single and [p[2] for p in pair_cases(pred, single)[0]] == [single.path] * 2
    (tmp_path / "m.csv").write_text("case_id,landmarks,other\nc1,truth/c1.fcsv,x\n")
    assert find_cases(tmp_path / "m.csv").cases == {"c1": (tmp_path / "truth/c1.fcsv").resolve()}
    write_landmarks(tmp_path / "other" / "zz.csv", lm)
    with pytest.raises(InputError, match="no case matches"):
        pair_cases(pred, find_cases(tmp_path / "other"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: no landmark files"):
        find_cases(tmp_path / "empty")


def test_errors_csv_writes_inside_as_yes_no(tmp_path):
    from data.atomic import write_csv

    truth = LandmarkSet(["A", "B", "C"], [[0, 0, 0], [1, 0, 0], [2, 0, 0]])
    est = np.array([[[0, 0, 1], [1, 0, 1], [np.nan] * 3]], float)
    write_csv(error_table(["A", "B", "C"], est, truth, inside=[True, False, True]), tmp_path / "errors.csv")
    back = pd.read_csv(tmp_path / "errors.csv", keep_default_na=False)
    assert back["inside"].tolist() == ["yes", "no", ""]
