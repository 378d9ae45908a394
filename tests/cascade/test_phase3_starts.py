"""``phase3_starts`` "steadier": phase 3 from phase 2's and from the coarse estimate, per landmark
the answer whose shifted reruns agree best; "phase2" (the default) is the paper's cascade."""
from dataclasses import replace

import numpy as np
import pytest

from cascade.bundle import Bundle
from cascade.config import tiny
from cascade.predict import Cascade
from phases.trainer import build_phase_model, save_for_inference
from tests.cascade.test_stages import blob_case


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A tiny fast-preset bundle with random weights (network coarse stage)."""
    import keras

    case = blob_case()
    b = Bundle.create(tmp_path_factory.mktemp("starts") / "b", tiny(), case.landmarks.names)
    for phase in (1, 2, 3):
        keras.utils.set_random_seed(phase)
        save_for_inference(build_phase_model(b, phase), b.model_path(phase))
    return b


def test_the_start_whose_reruns_agree_is_kept_per_landmark(bundle):
    c = Cascade(bundle, starts="steadier")
    a, b = np.zeros((4, 3)), np.full((4, 3), 10.0)
    wobble = np.array([[0.1, 5.0, 0.1, 5.0]]).T  # start a: landmarks 1 and 3 unsteady

    def fake(case, start):
        spread = wobble if start[0, 0] == 0 else 2.0 - wobble * 0  # start b: 2 mm everywhere
        shifted = start[None] + 1.0 + np.array([1.0, -1.0])[:, None, None] * spread[None]
        return start + 1.0, shifted

    c.last_phase = fake
    final, shifted, start = c.steadier_last_phase(None, np.stack([a, b]))
    assert np.array_equal(final[:, 0], [1.0, 11.0, 1.0, 11.0])
    assert np.array_equal(start[:, 0], [0.0, 10.0, 0.0, 10.0])
    assert shifted.shape == (2, 4, 3) and np.allclose(shifted[0, :, 0], [1.1, 13.0, 1.1, 13.0])


def test_steadier_prediction_takes_one_of_the_two_phase_3_answers(bundle):
    vol = blob_case(1).volume
    plain = Cascade(bundle)
    assert plain.starts == "phase2"
    p = plain.predict(vol)
    steady = Cascade(bundle, starts="steadier")
    s = steady.predict(vol)
    assert np.allclose(s.estimates[:2], p.estimates[:2])  # coarse and phase 2 unchanged
    case = steady.case(vol)
    from_phase2 = steady.last_phase(case, p.estimates[1])[0]
    from_coarse = steady.last_phase(case, p.estimates[0])[0]
    assert np.allclose(from_phase2, p.estimates[2], atol=1e-4)
    picked = [np.allclose(s.final[n], from_phase2[n], atol=1e-4) or np.allclose(s.final[n], from_coarse[n], atol=1e-4)
              for n in range(len(s.final))]
    assert all(picked)
    assert s.confidence is not None and np.isfinite(s.confidence.uncertainty_mm).all()


def test_the_bundle_setting_is_the_default_and_a_bad_value_is_refused(bundle):
    b = Bundle(bundle.path, replace(bundle.config, phase3_starts="steadier"), bundle.names, bundle.info)
    assert Cascade(b).starts == "steadier" and Cascade(b, starts="phase2").starts == "phase2"
    with pytest.raises(ValueError, match="phase-3 starts 'x'"):
        Cascade(bundle, starts="x")


def test_run_pipeline_option_reaches_the_cascade(bundle):
    from cascade.pipeline.cli import parser
    from cascade.pipeline.jobs import ModelSpec

    args = parser().parse_args(["scan", "--phase3-starts", "steadier"])
    assert ModelSpec(str(bundle.path), phase3_starts=args.phase3_starts).load().starts == "steadier"
    assert ModelSpec(str(bundle.path)).load().starts == "phase2"
    with pytest.raises(SystemExit):
        parser().parse_args(["scan", "--phase3-starts", "nowhere"])
