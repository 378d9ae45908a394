"""Training samples: global targets and shifted crops land the truth where the target says."""
import numpy as np
import pytest

from cascade.config import CascadeConfig, preset, tiny
from cascade.case import Case
from cascade.stages import GlobalStage, LocalStage, stage
from data.landmarks import LandmarkSet
from data.volume import Volume, affine_from_geometry


def blob_case(seed=0):
    """A volume with one bright cube per landmark: the crop target must point at the cube."""
    rng = np.random.default_rng(seed)
    arr = np.full((40, 60, 60), -1000.0, np.float32)
    aff = affine_from_geometry([-30, -30, -50], [0, 0, 1], [0, 1, 0], [1, 0, 0], [2.0, 1.0, 1.0])
    vol = Volume(arr, aff)
    idx = rng.integers(8, 30, size=(3, 3)) + [0, 15, 15]
    for k, i, j in idx:
        arr[k - 1:k + 2, i - 2:i + 3, j - 2:j + 3] = 1500.0
    lm = LandmarkSet(["A", "B", "C"], vol.index_to_lps(idx), [True, True, False])
    return Case.make("c0", vol, lm, ["A", "B", "C", "D"])


def test_presets_round_trip_and_differ():
    for name in ("fast", "paper"):
        c = preset(name)
        assert CascadeConfig.from_dict(c.to_dict()) == c
    assert preset("paper").phase2.shared is False and preset("fast").phase2.shared is True
    assert preset("paper").phase1.net.depth == 50
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")


def test_global_sample_targets_and_absent():
    case = blob_case()
    x, y, grid = GlobalStage(1, tiny().phase1).sample(case)
    assert x.shape == (32, 32, 32, 1) and y.shape == (12,)
    assert np.isnan(y[6:]).all() and np.isfinite(y[:6]).all()  # C absent in file, D not in file
    assert np.allclose(grid.normalised_to_lps(y[:6].reshape(2, 3)), case.landmarks.coords[:2])


def test_crop_sampler_targets_point_at_the_landmark():
    case = blob_case()
    cfg = tiny().phase2
    sampler = LocalStage(2, cfg).sampler([case])
    assert {n for _, n in sampler.pairs} == {0, 1}
    inputs, targets = sampler.batch(np.random.default_rng(0), 16)
    assert inputs["image"].shape == (16,) + cfg.size + (1,) and inputs["landmark"].shape == (16, 4)
    assert np.all(np.abs(targets) <= cfg.shift_mm / (np.asarray(cfg.size) * cfg.spacing) + 1e-6)
    checked = 0
    for img, t in zip(inputs["image"][..., 0], targets):
        # the voxel the target points at is bright (window intensity: 1500 HU -> 1.5)
        idx = np.rint(t * np.asarray(cfg.size) + (np.asarray(cfg.size) - 1) / 2).astype(int)
        if np.all((idx >= 0) & (idx < cfg.size)):
            assert img[tuple(idx)] > 0.5
            checked += 1
    assert checked >= 8


def test_per_landmark_models_get_their_own_crops_in_order():
    """Local stage with one model per landmark (paper preset): each crop goes to its landmark's
    model, several crops of one landmark in one call, answers back in the crops' order."""
    local = stage(preset("paper"), 3)
    assert not local.shared
    case = blob_case()
    calls = []

    def model(n):
        def forward(x):
            calls.append((n, len(x)))
            return np.full((len(x), 3), 0.1 * n)  # a landmark-specific offset in the crop
        return forward

    forwards = [model(n) for n in range(4)]
    centres = case.volume.index_to_lps(np.array([[20.0, 30, 30], [22, 28, 31], [18, 33, 29]]))
    ids = [2, 0, 2]
    out = local.predict(forwards, case, centres, ids, 4)
    assert sorted(calls) == [(0, 1), (2, 2)]  # landmark 2's two crops in one call
    for c, n, p in zip(centres, ids, out):
        _, aff = local.inputs(case, c)
        assert np.allclose(p, local.decode(np.full(3, 0.1 * n), aff))
    default = local.predict(forwards, case, centres[:3])  # one crop per landmark 0..2
    assert np.allclose(default[1], local.decode(np.full(3, 0.1), local.inputs(case, centres[1])[1]))
