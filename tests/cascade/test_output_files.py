"""Every file a prediction writes, read with the plain reader a user would use (pandas, json)."""
import json

import numpy as np
import pandas as pd
import pytest

from cascade.pipeline.case_run import MR_ON_CT_MODEL, modality_notes, print_table, state_counts, write_prediction
from cascade.predict import Prediction
from cascade.schema import COORD_DECIMALS, phase_columns
from data.volume import Volume

NAMES = ["OK", "OUT", "FAR"]
COLUMNS = (["name", "x", "y", "z", "present", "k", "i", "j"] + [c for p in (1, 2, 3) for c in phase_columns(p)]
           + ["inside", "state", "note", "review"])
MRK_POINT_KEYS = {"id", "label", "description", "associatedNodeID", "position", "orientation", "selected", "locked",
                  "visibility", "positionStatus"}  # markups-schema-v1.0.3 controlPoints item properties


def scan() -> Volume:
    """20 axial slices of 2 mm, 40 x 40 pixels of 1 mm; k along +S."""
    aff = np.array([[0, 0, 1.0, -20.0], [0, 1.0, 0, -20.0], [2.0, 0, 0, -10.0], [0, 0, 0, 1]])
    return Volume(np.zeros((20, 40, 40), np.float32), aff, {"modality": "CT", "source": "scan"})


@pytest.fixture()
def written(tmp_path):
    vol = scan()
    final = np.array([[0.1 + 0.2, -5 / 3, 4.123456789], [0.0, 0.0, -12.5], [10.0, 10.0, 10.0]])
    est = np.stack([final + 1, final + 0.5, final]).astype(np.float32).astype(float)
    pred = Prediction(NAMES, est, vol.contains(est[-1]), bone_mm=np.array([0.4, 0.0, 23.0]))
    lm = pred.landmark_set(vol)
    paths = write_prediction(tmp_path, lm, tmp_path / "scan")
    return {p.name: p for p in paths}, est, lm


def test_landmarks_csv_reads_plainly(written):
    paths, est, _ = written
    df = pd.read_csv(paths["landmarks.csv"], keep_default_na=False)
    assert list(df.columns) == COLUMNS
    for col in ["x", "y", "z", "k", "i", "j"] + COLUMNS[8:17]:
        assert df[col].dtype == float, col
    assert df["present"].tolist() == ["yes"] * 3 and df["inside"].tolist() == ["yes", "no", "yes"]
    assert df["state"].tolist() == ["ok", "outside_scan", "far_from_bone"]
    assert df["note"].tolist() == ["", "1.5 mm below the first slice", "23 mm from the nearest bone (threshold 10 mm)"]
    assert df["review"].tolist() == ["no", "yes", "yes"]  # every state but ok is one to check
    np.testing.assert_allclose(df[["x", "y", "z"]].to_numpy(), est[-1], atol=0.5 * 10 ** -COORD_DECIMALS)
    np.testing.assert_allclose(df[phase_columns(1)].to_numpy(), est[0], atol=0.5 * 10 ** -COORD_DECIMALS)
    text = paths["landmarks.csv"].read_text()
    assert not text.startswith("#")
    numbers = [c for line in text.splitlines()[1:] for c in line.split(",")[1:17] if c not in ("yes", "no")]
    assert all(len(c.split(".")[-1]) <= COORD_DECIMALS for c in numbers), numbers


def test_landmarks_json_has_real_booleans(written):
    paths, _, _ = written
    doc = json.loads(paths["landmarks.json"].read_text())
    pts = doc["landmarks"]
    assert [p["present"] for p in pts] == [True, True, True]
    assert [p["inside"] for p in pts] == [True, False, True]
    assert [p["state"] for p in pts] == ["ok", "outside_scan", "far_from_bone"]
    assert pts[0]["note"] == "" and pts[1]["note"] == "1.5 mm below the first slice"
    assert pts[0]["x"] == 0.3 and pts[0]["z"] == round(float(np.float32(4.123456789)), COORD_DECIMALS)


def test_mrk_json_places_the_outside_point_unselected(written):
    paths, _, _ = written
    doc = json.loads(paths["landmarks.mrk.json"].read_text())
    assert doc["@schema"].endswith("markups-schema-v1.0.3.json#")
    (markup,) = doc["markups"]
    assert {"type", "coordinateSystem", "controlPoints"} <= set(markup) and markup["type"] == "Fiducial"
    ok, out, far = markup["controlPoints"]
    for cp in (ok, out, far):
        assert {"id", "label", "position", "positionStatus", "selected", "locked", "visibility"} <= set(cp)
        assert isinstance(cp["selected"], bool) and isinstance(cp["visibility"], bool)
        assert len(cp["position"]) == 3 and cp["positionStatus"] == "defined" and cp["visibility"] is True
        assert set(cp) - MRK_POINT_KEYS <= set(COLUMNS[5:])  # extra keys: the schema allows them
    assert ok["selected"] is True and ok["description"] == ""
    assert out["selected"] is False and out["locked"] is False
    assert out["description"] == "outside_scan: 1.5 mm below the first slice"
    assert far["selected"] is False and far["description"].startswith("far_from_bone: 23 mm from the nearest bone")


def test_fcsv_reads_with_pandas_and_shows_the_outside_point(written):
    paths, _, _ = written
    lines = paths["landmarks.fcsv"].read_text().splitlines()
    assert [ln.startswith("#") for ln in lines[:4]] == [True, True, True, True]  # version, system, description, columns
    columns = lines[3][len("# columns = "):].split(",")
    df = pd.read_csv(paths["landmarks.fcsv"], comment=None, skiprows=4, header=None, names=columns,
                     keep_default_na=False)
    assert df["label"].tolist() == NAMES
    assert df["vis"].tolist() == [1, 1, 1] and df["sel"].tolist() == [1, 0, 0]
    assert df["desc"].tolist()[1] == "outside_scan: 1.5 mm below the first slice"
    assert df["state"].tolist() == ["ok", "outside_scan", "far_from_bone"]


def test_every_format_reads_back_the_same_states(written):
    from data.landmark_io import read_landmarks

    paths, _, lm = written
    for path in paths.values():
        back = read_landmarks(path)
        assert back.present.tolist() == [True] * 3, path.name
        assert {k: back.extra[k] for k in ("inside", "state", "note")} == \
            {k: lm.extra[k] for k in ("inside", "state", "note")}, path.name
        np.testing.assert_array_equal(back.coords, lm.coords)


def test_summary_counts_table_and_mr_note(written, capsys):
    _, est, lm = written
    assert state_counts(lm) == {"landmarks": 3, "review": 2, "outside_scan": 1, "far_from_bone": 1, "uncertain": 0}
    pred = Prediction(NAMES, est, np.array([True, False, True]))
    print_table(pred, None, list(lm.extra["state"]))
    out = capsys.readouterr().out.splitlines()
    assert "state" in out[0] and out[2].split()[-1] == "outside_scan" and out[3].split()[-1] == "far_from_bone"

    from types import SimpleNamespace

    from cascade.config import CascadeConfig, with_intensity

    ct_model = SimpleNamespace(bundle=SimpleNamespace(config=CascadeConfig()))
    mr = Volume(np.abs(scan().array) + 100, scan().affine, {"modality": "MR", "source": "mr_dicom"})
    assert modality_notes(ct_model, mr) == [MR_ON_CT_MODEL]
    assert modality_notes(ct_model, scan()) == []
    mr_model = SimpleNamespace(bundle=SimpleNamespace(config=with_intensity(CascadeConfig(), "intensity")))
    assert modality_notes(mr_model, mr) == []
    assert modality_notes(object(), mr) == []  # a stand-in cascade without a bundle


def test_phantom_truth_csv_reads_plainly(tmp_path):
    from data.phantom import write_case

    write_case(tmp_path / "case", 2, size=64, pixel_spacing=4.0, slice_spacing=5.0, metal=False)
    df = pd.read_csv(tmp_path / "case" / "landmarks.csv")
    assert list(df.columns[:5]) == ["name", "x", "y", "z", "present"]
    assert not any(str(c).startswith(("#", "Unnamed")) for c in df.columns)
    assert set(df["present"]) <= {"yes", "no"} and df["x"].dtype == float
