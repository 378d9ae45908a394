"""Training into a bundle: reproducible, resumable, loadable in safe mode, distributable."""
import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cascade.bundle import Bundle
from cascade.config import CascadeConfig, tiny
from cascade.predict import Cascade
from data.errors import InputError
from phases.trainer import train_phase
from tests.cascade.test_stages import blob_case


@pytest.fixture(autouse=True)
def _deterministic_ops():
    """Identical reruns need TensorFlow's deterministic ops (the training CLI switches them on)."""
    from phases.trainer import make_deterministic

    make_deterministic()

ROOT = Path(__file__).resolve().parents[2]


def tiny_config(epochs: int) -> CascadeConfig:
    c = tiny()
    nets = {p: replace(getattr(c, p).net, epochs=epochs) for p in ("phase1", "phase2", "phase3")}
    return replace(c, phase1=replace(c.phase1, net=nets["phase1"]), phase2=replace(c.phase2, net=nets["phase2"]),
                   phase3=replace(c.phase3, net=nets["phase3"]))


@pytest.fixture(scope="module")
def cases():
    return [blob_case(s) for s in range(5)]


def weights(model):
    return [w.copy() for w in model.get_weights()]


def same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_same_seed_same_model_and_resume_continues(tmp_path, cases):
    names = cases[0].landmarks.names
    two = tiny_config(2)
    a = train_phase(Bundle.create(tmp_path / "a", two, names), 2, cases[:3], cases[3:], seed=5, verbose=0)
    b = train_phase(Bundle.create(tmp_path / "b", two, names), 2, cases[:3], cases[3:], seed=5, verbose=0)
    assert same(weights(a), weights(b))
    c = train_phase(Bundle.create(tmp_path / "c", two, names), 2, cases[:3], cases[3:], seed=6, verbose=0)
    assert not same(weights(a), weights(c))
    # interrupted after epoch 1, resumed to epoch 2: same as the uninterrupted run
    r = Bundle.create(tmp_path / "r", tiny_config(1), names)
    train_phase(r, 2, cases[:3], cases[3:], seed=5, verbose=0)
    assert json.loads((r.path / "checkpoints" / "phase2_last.json").read_text())["epoch"] == 0
    r = Bundle.create(tmp_path / "r", two, names)
    resumed = train_phase(r, 2, cases[:3], cases[3:], seed=5, resume=True, verbose=0)
    assert np.allclose(np.concatenate([w.ravel() for w in weights(resumed)]),
                       np.concatenate([w.ravel() for w in weights(a)]), atol=1e-5)
    log = (r.path / "logs" / "phase2.csv").read_text().strip().splitlines()
    assert log[0].startswith("epoch") and [row.split(",")[0] for row in log[1:]] == ["0", "1"]


def test_bundle_loads_in_safe_mode_and_predicts(tmp_path, cases):
    names = cases[0].landmarks.names
    bundle = Bundle.create(tmp_path / "m", tiny_config(1), names, note="test")
    for phase in (1, 2, 3):
        train_phase(bundle, phase, cases[:3], cases[3:], verbose=0)
    reopened = Bundle.open(tmp_path / "m")
    assert reopened.names == names and reopened.config == bundle.config and reopened.info["note"] == "test"
    cascade = Cascade(reopened)
    vol = cases[4].volume
    pred = cascade.predict(vol)
    assert pred.estimates.shape == (3, 4, 3) and np.isfinite(pred.estimates).all()
    assert np.array_equal(pred.inside, vol.contains(pred.final))
    lm = pred.landmark_set(vol)
    assert lm.names == names and set(lm.extra) >= {"k", "i", "j", "phase1_x", "phase3_z", "inside"}
    assert np.allclose(vol.index_to_lps(np.stack([lm.extra[a] for a in "kij"], axis=1)), pred.final)
    # a phase-2 estimate is the phase-1 one moved by the local model, not a copy
    assert not np.allclose(pred.estimates[0], pred.estimates[1])


def test_bundle_errors(tmp_path):
    with pytest.raises(InputError, match="not a model bundle"):
        Bundle.open(tmp_path)
    (tmp_path / "bundle.json").write_text('{"version": 99}')
    with pytest.raises(InputError, match="bundle version 99"):
        Bundle.open(tmp_path)
    b = Bundle.create(tmp_path / "empty", tiny(), ["A"])
    with pytest.raises(InputError, match="model of phase 1 missing"):
        b.load_model(1)


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    script = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(ROOT)!r})
        from phases.strategy import get_strategy
        strategy = get_strategy(["cpu:0", "cpu:1"])
        assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
        from cascade.bundle import Bundle
        from phases.trainer import train_phase
        from tests.cascade.test_stages import blob_case
        from tests.phases.test_training import tiny_config
        cases = [blob_case(s) for s in range(4)]
        b = Bundle.create({str(tmp_path / 'mirrored')!r}, tiny_config(1), cases[0].landmarks.names)
        train_phase(b, 1, cases[:3], cases[3:], strategy=strategy, verbose=0)
        train_phase(b, 2, cases[:3], cases[3:], strategy=strategy, verbose=0)
        print("replicas", strategy.num_replicas_in_sync)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "replicas 2" in out.stdout
    assert (tmp_path / "mirrored" / "phase2.keras").exists()


def test_early_stopping_on_validation_coordinate_loss(tmp_path, cases):
    """With validation cases and patience > 0, training watches val_coord (the loss without L2)."""
    c = tiny_config(3)
    c = replace(c, phase2=replace(c.phase2, net=replace(c.phase2.net, patience=1)))
    bundle = Bundle.create(tmp_path / "es", c, cases[0].landmarks.names)
    train_phase(bundle, 2, cases[:3], cases[3:], seed=1, verbose=0)
    header = (bundle.path / "logs" / "phase2.csv").read_text().splitlines()[0].split(",")
    assert {"coord", "val_coord", "loss", "val_loss"} <= set(header)
    assert bundle.model_path(2).exists()


def test_intensity_option_applies_to_every_phase_of_a_new_bundle(tmp_path):
    import pandas as pd

    from data.landmark_io import write_landmarks
    from data.landmarks import LandmarkSet
    from phases.train_cli import open_or_create, parser

    lm = write_landmarks(tmp_path / "a.csv", LandmarkSet(["AC", "PC"], np.zeros((2, 3))))
    manifest = pd.DataFrame({"case_id": ["a", "b"], "landmarks": [str(lm), str(lm)]})
    args = parser([1]).parse_args(["--manifest", str(tmp_path / "m.csv"), "--bundle", str(tmp_path / "b"),
                                   "--tiny", "--intensity", "intensity"])
    bundle = open_or_create(args, manifest)
    assert [bundle.phase_config(p).intensity for p in (1, 2, 3)] == ["intensity"] * 3
    assert Bundle.open(tmp_path / "b").config.phase2.intensity == "intensity"
    default = open_or_create(parser([1]).parse_args(["--manifest", "m.csv", "--bundle", str(tmp_path / "c")]), manifest)
    assert [default.phase_config(p).intensity for p in (1, 2, 3)] == ["bone", "window", "window"]


def test_epoch_and_crop_overrides_touch_only_the_named_phases(tmp_path):
    from phases.train_cli import with_overrides

    bundle = Bundle.create(tmp_path / "o", tiny_config(1), ["A"])
    with_overrides(bundle, [1, 2], epochs=7, crops_per_case=54)
    again = Bundle.open(tmp_path / "o").config
    assert (again.phase1.net.epochs, again.phase2.net.epochs, again.phase3.net.epochs) == (7, 7, 1)
    assert again.phase2.crops_per_case == 54
    assert again.phase3.crops_per_case == tiny_config(1).phase3.crops_per_case
