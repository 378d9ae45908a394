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
    for ext in ("csv", "json", "mrk.json", "fcsv"):
        path = write_landmarks(tmp_path / f"p.{ext}", lm)
        back = read_estimates(path)
        assert back.phases == ["phase1", "phase2", "phase3"]
        assert np.allclose(back.coords, est) and back.inside.tolist() == [True, False]
