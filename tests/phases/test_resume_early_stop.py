"""--resume with early stopping on: a run stopped mid-patience, or after its early stop, ends exactly as an
uninterrupted one (issue 14, item 2)."""
import json
from dataclasses import replace

import keras
import numpy as np
import pytest

from cascade.bundle import Bundle
from phases.trainer import train_phase
from tests.cascade.test_stages import blob_case
from tests.phases.test_training import same, tiny_config, weights


@pytest.fixture(autouse=True)
def _deterministic_ops():
    """Identical reruns need TensorFlow's deterministic ops (the training CLI switches them on)."""
    from phases.trainer import make_deterministic

    make_deterministic()

EPOCHS, PATIENCE = 6, 2


class Killed(Exception):
    """Stands for the process being killed."""


class KillAfter(keras.callbacks.Callback):
    """Raise once epoch ``epoch`` has ended (and been checkpointed)."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Killed


def config():
    c = tiny_config(EPOCHS)
    net = replace(c.phase1.net, patience=PATIENCE, learning_rate=0.05)  # noisy: stops early
    return replace(c, phase1=replace(c.phase1, net=net))


def log(bundle):
    rows = (bundle.path / "logs" / "phase1.csv").read_text().splitlines()
    return [dict(zip(rows[0].split(","), row.split(","))) for row in rows[1:]]


def log_epochs(bundle):
    return [row["epoch"] for row in log(bundle)]


@pytest.fixture(scope="module")
def cases():
    return [blob_case(s) for s in range(4)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cases):
    bundle = Bundle.create(tmp_path_factory.mktemp("ref") / "b", config(), cases[0].landmarks.names)
    model = train_phase(bundle, 1, cases[:3], cases[3:], seed=1, verbose=0)
    stopped = len(log(bundle)) - 1
    best = int(np.argmin([float(row["val_coord"]) for row in log(bundle)]))
    assert stopped < EPOCHS - 1 and stopped - best == PATIENCE  # the run did stop early
    return bundle, weights(model), log_epochs(bundle), {"stopped_epoch": stopped, "best_epoch": best}


def test_resume_after_the_early_stop_trains_no_further(reference, cases):
    bundle, final, epochs, state = reference
    again = train_phase(bundle, 1, cases[:3], cases[3:], seed=1, resume=True, verbose=0)
    assert log_epochs(bundle) == epochs  # no epoch added
    assert same(weights(again), final)  # the best weights, bit for bit
    reloaded = keras.models.load_model(bundle.model_path(1), safe_mode=True)
    assert same(weights(reloaded), final)


def test_resume_in_the_middle_of_the_patience_window_is_bit_identical(tmp_path, reference, cases):
    _, final, epochs, state = reference
    kill_at = state["stopped_epoch"] - 1  # one epoch without improvement seen, the stop not yet reached
    assert kill_at > state["best_epoch"]
    bundle = Bundle.create(tmp_path / "b", config(), cases[0].landmarks.names)
    with pytest.raises(Killed):
        train_phase(bundle, 1, cases[:3], cases[3:], seed=1, verbose=0, extra_callbacks=[KillAfter(kill_at)])
    saved = json.loads((bundle.path / "checkpoints" / "phase1_last.json").read_text()).get("early_stopping")
    resumed = train_phase(bundle, 1, cases[:3], cases[3:], seed=1, resume=True, verbose=0)
    assert log_epochs(bundle) == epochs
    assert same(weights(resumed), final)
    assert saved["wait"] > 0 and saved["stopped_epoch"] == 0 and saved["best_epoch"] == state["best_epoch"]
    assert len(list((bundle.path / "checkpoints").glob("*.npz"))) == 1  # only the current best weights kept


def test_training_cli_refuses_a_manifest_that_would_train_on_the_wrong_scan(tmp_path, monkeypatch, capsys):
    from data.landmark_io import write_landmarks
    from phases.train_cli import run

    monkeypatch.chdir(tmp_path)  # an empty scan cell used to read the working folder
    lm = write_landmarks(tmp_path / "a.csv", blob_case(0).landmarks)
    (tmp_path / "m.csv").write_text(f"case_id,image,landmarks\na,,{lm}\n")
    assert run([1], ["--manifest", str(tmp_path / "m.csv"), "--bundle", str(tmp_path / "b"), "--tiny"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'm.csv'}: line 2 (case 'a'): empty image cell"


def test_any_failure_reading_a_training_case_names_its_file(tmp_path, monkeypatch):
    import pandas as pd

    import phases.dataset as dataset
    from data.errors import InputError

    def broken(path):
        raise ZeroDivisionError("reader bug")

    monkeypatch.setattr(dataset, "load_volume", broken)
    manifest = pd.DataFrame({"case_id": ["a"], "scan": [str(tmp_path / "a.nii")], "landmarks": ["x.csv"]})
    with pytest.raises(InputError, match=r"a\.nii: cannot read: unexpected ZeroDivisionError: reader bug"):
        dataset.load_cases(manifest, ["A"], progress=False)
