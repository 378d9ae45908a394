"""Per-landmark models streamed through one resident model (``paper`` preset): the same estimates
as with every model resident, each landmark's weights read once per phase and scan."""
import numpy as np
import pytest

from cascade.bundle import Bundle
from cascade.config import preset, tiny
from cascade.networks.streamed import StreamedModels
from cascade.predict import Cascade
from phases.trainer import build_phase_model, save_for_inference
from tests.cascade.test_stages import blob_case


@pytest.fixture(scope="module")
def per_landmark_bundle(tmp_path_factory):
    """A tiny paper-preset bundle (one model per landmark in phases 2 and 3), each model its own
    random weights."""
    import keras

    case = blob_case()
    b = Bundle.create(tmp_path_factory.mktemp("paper") / "b", tiny(preset("paper")), case.landmarks.names)
    assert not b.shared(2) and not b.shared(3)
    for phase in (1, 2, 3):
        for n in [None] if b.shared(phase) else range(len(b.names)):
            keras.utils.set_random_seed(100 * phase + (n or 0))
            save_for_inference(build_phase_model(b, phase), b.model_path(phase, n))
    return b


def test_streamed_equals_resident_and_reads_each_model_once_per_scan(per_landmark_bundle):
    vol = blob_case(1).volume
    resident = Cascade(per_landmark_bundle, resident=True)
    streamed = Cascade(per_landmark_bundle)
    assert isinstance(streamed.forward[2], StreamedModels) and isinstance(streamed.forward[3], StreamedModels)
    assert isinstance(resident.forward[2], list)
    # the landmarks' models differ, so a stream that kept the wrong weights would show
    x = np.zeros((1,) + per_landmark_bundle.stage(2).input_shape, np.float32)
    x[0, 4:9, 6:12, 6:12] = 1.0
    assert not np.allclose(resident.forward[2][0](x), resident.forward[2][1](x))
    n = len(per_landmark_bundle.names)
    a = resident.predict(vol)
    for scan in (1, 2):
        b = streamed.predict(vol)
        assert np.abs(a.estimates - b.estimates).max() < 1e-4  # mm
        assert np.abs(a.tta_mean - b.tta_mean).max() < 1e-4
        assert np.allclose(a.confidence.uncertainty_mm, b.confidence.uncertainty_mm, atol=1e-4)
        # one read per landmark and phase per scan (the first scan's first model came with the load)
        assert streamed.forward[2].loads == streamed.forward[3].loads == scan * n


def test_streamed_models_hold_the_asked_landmark(per_landmark_bundle):
    from cascade.networks.build import load_model

    paths = per_landmark_bundle.model_paths(3)
    s = StreamedModels(paths, load_model)
    x = np.random.default_rng(0).normal(size=(2,) + per_landmark_bundle.stage(3).input_shape).astype(np.float32)
    for n in (2, 0, 2, 3):
        assert np.allclose(s[n](x), load_model(paths[n])(x, training=False), atol=1e-5)
        assert s.current == n
    assert s.loads == 5  # 0 came with the first load; then 2, 0, 2, 3 read
    assert len(s) == len(paths)
    with pytest.raises(IndexError):
        s[len(paths)]


def test_weights_are_read_from_a_scratch_copy_of_the_archive_member_and_it_is_removed(per_landmark_bundle):
    """The fast path (the .keras archive's weights member copied out) gives the archive's values;
    a weights file that is not an archive is read as it is; the scratch folder goes with the object."""
    import gc
    from pathlib import Path

    from cascade.networks.build import load_model

    paths = per_landmark_bundle.model_paths(2)
    s = StreamedModels(paths, load_model)
    fast = s._weights_file(paths[1])
    assert fast.parent == Path(s._scratch.name) and fast.name.endswith(".weights.h5")
    s.model.load_weights(fast)
    want = load_model(paths[1]).get_weights()
    got = s.model.get_weights()
    assert len(got) == len(want) and all(np.array_equal(a, b) for a, b in zip(got, want))
    plain = Path(s._scratch.name).parent / f"{Path(s._scratch.name).name}-plain.weights.h5"
    try:
        load_model(paths[0]).save_weights(plain)
        assert s._weights_file(plain) == plain
    finally:
        plain.unlink(missing_ok=True)
    scratch = Path(s._scratch.name)
    del s
    gc.collect()
    assert not scratch.exists()
