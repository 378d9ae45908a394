"""``cascade.schema``: the prediction file's columns and phase labels, written and read by one owner."""
import numpy as np

from cascade.evaluation.inputs import read_estimates
from cascade.predict import Prediction
from cascade.schema import phase_columns, phase_label, phases_in, prediction_columns
from data.landmark_io import write_landmarks
from data.volume import Volume


def test_labels_and_columns():
    assert phase_label(2) == "phase2" and phase_columns(3) == ["phase3_x", "phase3_y", "phase3_z"]
    assert phases_in(["phase1_x", "phase1_y", "phase1_z", "phase2_x", "phase10_x", "x"]) == [1]


def test_prediction_written_and_read_back_through_the_schema(tmp_path):
    est = np.arange(2 * 3 * 3, dtype=float).reshape(3, 2, 3)
    pred = Prediction(["A", "B"], est, np.array([True, False]))
    vol = Volume(np.zeros((4, 4, 4), np.float32), np.eye(4))
    lm = pred.landmark_set(vol)
    assert set(prediction_columns(est, pred.inside)) <= set(lm.extra)
    assert lm.present.tolist() == [True, True] and lm.extra["state"] == ["ok", "outside_scan"]
    for ext in ("csv", "json", "mrk.json", "fcsv"):
        path = write_landmarks(tmp_path / f"p.{ext}", lm)
        back = read_estimates(path)
        assert back.phases == ["phase1", "phase2", "phase3"]
        assert np.allclose(back.coords, est) and back.inside.tolist() == [True, False]


def test_every_prediction_is_a_point_with_a_state_and_note():
    from cascade.predict import outside_note
    from cascade.schema import STATES

    vol = Volume(np.zeros((10, 20, 20), np.float32), np.array([[0, 0, 1.0, 0], [0, 1.0, 0, 0], [2.0, 0, 0, 0],
                                                               [0, 0, 0, 1]]))  # k along +S, 2 mm slices
    final = np.array([[5, 5, 5], [5, 5, -4.0], [5, 5, 5.5], [1 / 3, 2 / 3, 30.0]])
    pred = Prediction(["A", "B", "C", "D"], np.stack([final] * 3), vol.contains(final),
                      bone_mm=np.array([0.5, 1.0, 25.0, 0.0]))
    lm = pred.landmark_set(vol)
    assert lm.present.tolist() == [True] * 4
    assert lm.extra["inside"] == ["yes", "no", "yes", "no"]
    assert lm.extra["state"] == ["ok", "outside_scan", "far_from_bone", "outside_scan"]
    assert set(lm.extra["state"]) <= set(STATES)
    assert lm.extra["note"] == ["", "3.0 mm below the first slice", "25 mm from the nearest bone (threshold 10 mm)",
                                "11.0 mm above the last slice"]
    assert outside_note(vol, [30.0, 5, 5]) == "10.5 mm left of the last column"
    assert lm.coords[3].tolist() == [0.3333, 0.6667, 30.0] and lm.extra["phase1_x"][3] == 0.3333
    assert lm.extra["k"][3] == 15.0


def test_without_a_bone_check_nothing_is_far_from_bone():
    vol = Volume(np.zeros((4, 4, 4), np.float32), np.eye(4))
    pred = Prediction(["A"], np.ones((3, 1, 3)), np.array([True]))
    assert pred.landmark_set(vol).extra["state"] == ["ok"]
