"""3D pre-activation ResNet family and coordinate losses (phases/)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from cascade.networks.losses import MaskedCoordinateLoss, euclidean, mae, make_loss, mse
from cascade.networks.resnet3d import FiLM, build_resnet3d, count_flops, forward_gflops, stage_filters

SMALL = (24, 32, 32, 1)  # (D, H, W, C): depth first


def producer(tensor):
    """The layer that produced a functional-graph tensor."""
    return tensor._keras_history[0]


def tiny(**kwargs):
    kwargs = {"depth": 18, "width": 0.125, **kwargs}
    return build_resnet3d(kwargs.pop("input_shape", SMALL), kwargs.pop("outputs", 6), **kwargs)


@pytest.fixture(scope="module")
def full50():
    return build_resnet3d((81, 96, 96, 1), 48, depth=50)


@pytest.mark.parametrize("depth,shape", [(18, SMALL), (34, SMALL), (50, SMALL), (18, (16, 16, 20, 2))])
def test_output_shape(depth, shape):
    model = tiny(depth=depth, input_shape=shape, outputs=9)
    x = np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")
    y = model(x, training=False)
    assert tuple(y.shape) == (2, 9) and y.dtype == "float32"
    assert np.all(np.isfinite(y))


def test_full_width_resnet50_params_and_flops(full50):
    # 2D ResNet-50 has ~23.5M conv parameters; 3x3x3 kernels push the 3D one to ~46M.
    n = full50.count_params()
    assert abs(n - 46_291_184) / 46_291_184 < 0.01, n
    conv = sum(int(np.prod(l.kernel.shape)) for l in full50.layers if isinstance(l, keras.layers.Conv3D))
    assert 45e6 < conv < 47.5e6
    assert full50.get_layer("stage4_block3_add").output.shape[-1] == 2048
    # The issue measured ~31 GFLOP for a forward pass at 81x96x96x1.
    assert abs(count_flops(full50) / 1e9 - 31) / 31 < 0.25
    assert forward_gflops(50, 1.0, (81, 96, 96, 1)) == pytest.approx(count_flops(full50) / 1e9)


def test_preactivation_structure():
    model = tiny(depth=50)
    residual_stream = (keras.layers.Add, keras.layers.MaxPooling3D, FiLM)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv3D) and l.name != "stem_conv"]
    for conv in convs:  # every conv is preceded by BN -> ReLU
        act = producer(conv.input)
        assert isinstance(act, keras.layers.Activation), conv.name
        assert isinstance(producer(act.input), keras.layers.BatchNormalization), conv.name
    adds = [l for l in model.layers if isinstance(l, keras.layers.Add)]
    assert len(adds) == 16
    for add in adds:  # residual branch ends in a conv; the shortcut is the raw stream or a projection
        kinds = [producer(t) for t in add.input]
        assert isinstance(kinds[1], keras.layers.Conv3D)
        assert isinstance(kinds[0], residual_stream) or kinds[0].name.endswith("_proj")
    # each block starts with BN on the raw stream
    for add in adds:
        block = add.name[: -len("_add")]
        bn = model.get_layer(f"{block}_preact_bn")
        assert isinstance(producer(bn.input), residual_stream)
    projections = [l.name for l in convs if l.name.endswith("_proj")]
    assert projections == [f"stage{s}_block1_proj" for s in range(1, 5)]
    assert len([l for l in convs if l.name.endswith("_proj")]) == 4
    assert [l.name for l in tiny(depth=18).layers if l.name.endswith("_proj")] == \
        [f"stage{s}_block1_proj" for s in range(2, 5)]
    gap = model.get_layer("gap")
    assert isinstance(producer(gap.input), keras.layers.Activation)
    assert isinstance(producer(producer(gap.input).input), keras.layers.BatchNormalization)


def test_l2_regularisation():
    model = tiny(l2=1e-3)
    kernels = [l for l in model.layers if isinstance(l, (keras.layers.Conv3D, keras.layers.Dense))]
    assert len(model.losses) == len(kernels)
    expected = sum(1e-3 * float(np.sum(np.square(l.kernel.numpy()))) for l in kernels)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-4)
    assert tiny(l2=0.0).losses == []


def test_width_multiplier():
    assert stage_filters(64, 0.25) == [16, 32, 64, 128]
    assert stage_filters(64, 0.01) == [4, 4, 4, 5]
    narrow, wide = tiny(depth=50, width=0.125), tiny(depth=50, width=0.25)
    for model, f in ((narrow, 8), (wide, 16)):
        assert model.get_layer("stem_conv").filters == f
        assert model.get_layer("stage1_block1_conv2").filters == f
        assert model.get_layer("stage4_block3_add").output.shape[-1] == 8 * 4 * f
    assert wide.count_params() > 3 * narrow.count_params()


def test_identity_input_film_changes_output():
    model = tiny(identity_classes=5)
    assert [t.name for t in model.inputs] == ["image", "landmark"]
    x = np.random.default_rng(1).normal(size=(1, *SMALL)).astype("float32")
    eye = np.eye(5, dtype="float32")
    ys = [model({"image": x, "landmark": eye[i:i + 1]}, training=False).numpy() for i in range(5)]
    assert all(not np.allclose(ys[0], y) for y in ys[1:])
    np.testing.assert_allclose(model([x, eye[2:3]], training=False), ys[2], rtol=1e-6)
    # the FiLM layers themselves modulate the features (not just the head concatenation)
    film = model.get_layer("stage4_film")
    probe = keras.Model(model.inputs, [film.output, film.input[0]])
    (f0, raw0), (f1, raw1) = (probe([x, eye[i:i + 1]], training=False) for i in (0, 1))
    assert not np.allclose(f0, f1) and not np.allclose(f0, raw0)
    assert sum(isinstance(l, FiLM) for l in model.layers) == 4


def test_identity_model_trains_with_masked_targets():
    keras.utils.set_random_seed(0)
    n = 2
    model = tiny(identity_classes=3, outputs=3 * n, input_shape=(16, 24, 24, 1))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 16, 24, 24, 1)).astype("float32")
    lm = np.eye(3, dtype="float32")[rng.integers(0, 3, 8)]
    y = rng.uniform(0.2, 0.8, size=(8, 3 * n)).astype("float32")
    y[0, 3:] = np.nan
    y[5, :3] = np.nan
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=make_loss("mse", n))
    hist = model.fit({"image": x, "landmark": lm}, y, batch_size=8, epochs=12, verbose=0).history["loss"]
    assert np.all(np.isfinite(hist))
    assert np.mean(hist[-3:]) < 0.5 * np.mean(hist[:2]), hist
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


def test_mixed_bfloat16_is_local_and_outputs_float32():
    before = keras.config.dtype_policy().name
    model = tiny(depth=50, identity_classes=2, dtype_policy="mixed_bfloat16")
    assert keras.config.dtype_policy().name == before == "float32"
    conv = model.get_layer("stage2_block1_conv2")
    assert conv.compute_dtype == "bfloat16" and conv.variable_dtype == "float32"
    assert model.get_layer("coords").compute_dtype == "float32"
    x = np.zeros((2, *SMALL), "float32")
    y = model([x, np.eye(2, dtype="float32")], training=False)
    assert y.dtype == "float32" and np.all(np.isfinite(y))
    later = tiny()
    assert all(l.compute_dtype == "float32" for l in later.layers if hasattr(l, "compute_dtype"))


# --- losses -------------------------------------------------------------------------------

Y_TRUE = np.array([[0, 0, 0, np.nan, np.nan, np.nan],
                   [1, 1, 1, 0, 0, 0]], "float32")
Y_PRED = np.array([[1, 2, 2, 5, 5, 5],
                   [1, 1, 1, 0, 3, 4]], "float32")
# present terms: sample 0 lm 0 -> sq (1,4,4), dist 3; sample 1 lm 0 -> 0; sample 1 lm 1 -> sq (0,9,16), dist 5


@pytest.mark.parametrize("kind,expected,weighted", [
    ("mse", (3 + 0 + 25 / 3) / 3, (25 / 3) / 2),
    ("mae", (5 / 3 + 0 + 7 / 3) / 3, (7 / 3) / 2),
    ("euclidean", (3 + 0 + 5) / 3, 5 / 2),
])
def test_masked_loss_hand_values(kind, expected, weighted):
    loss = make_loss(kind, 2)
    assert float(loss(Y_TRUE, Y_PRED)) == pytest.approx(expected, rel=1e-6)
    by_sample = float(loss(Y_TRUE, Y_PRED, sample_weight=np.array([0.0, 1.0])))
    assert by_sample == pytest.approx(weighted, rel=1e-6)
    # per-landmark weights: only sample 0 landmark 0 counts
    lw = np.array([[1.0, 1.0], [0.0, 0.0]])
    first = {"mse": 3.0, "mae": 5 / 3, "euclidean": 3.0}[kind]
    assert float(loss(Y_TRUE, Y_PRED, sample_weight=lw)) == pytest.approx(first, rel=1e-6)
    # (B, N, 3) layout gives the same
    assert float(loss(Y_TRUE.reshape(2, 2, 3), Y_PRED.reshape(2, 2, 3))) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("kind", ["mse", "mae", "euclidean"])
def test_masked_loss_gradients_finite(kind):
    loss = make_loss(kind, 2)
    pred = tf.Variable(Y_PRED)
    with tf.GradientTape() as tape:
        value = loss(Y_TRUE, pred)
    grad = tape.gradient(value, pred).numpy()
    assert np.all(np.isfinite(grad))
    assert np.all(grad[0, 3:] == 0)  # absent landmark
    assert np.all(grad[1, :3] == 0)  # exact hit (zero distance) has zero, not NaN, gradient
    all_nan = np.full_like(Y_TRUE, np.nan)
    with tf.GradientTape() as tape:
        value = loss(all_nan, pred)
    assert float(value) == 0.0
    assert np.all(tape.gradient(value, pred).numpy() == 0)


def test_plain_losses_and_masked_agree_without_nan():
    rng = np.random.default_rng(3)
    t, p = rng.normal(size=(2, 4, 6)).astype("float32")
    np.testing.assert_allclose(mse(t, p), np.mean((p - t) ** 2, axis=1), rtol=1e-5)
    np.testing.assert_allclose(mae(t, p), np.mean(np.abs(p - t), axis=1), rtol=1e-5)
    dist = np.linalg.norm((p - t).reshape(4, 2, 3), axis=-1).mean(axis=1)
    np.testing.assert_allclose(euclidean(t, p), dist, rtol=1e-5)
    for kind, fn in (("mse", mse), ("mae", mae), ("euclidean", euclidean)):
        assert float(make_loss(kind, 2)(t, p)) == pytest.approx(float(np.mean(fn(t, p))), rel=1e-5)
    with pytest.raises(ValueError):
        make_loss("huber", 2)


def test_save_and_reload_safe_mode(tmp_path):
    model = tiny(identity_classes=3, outputs=6, dtype_policy="mixed_bfloat16")
    model.compile(optimizer="adam", loss=make_loss("euclidean", 2))
    model.optimizer.build(model.trainable_variables)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    x = np.random.default_rng(2).normal(size=(2, *SMALL)).astype("float32")
    lm = np.eye(3, dtype="float32")[[0, 2]]
    np.testing.assert_array_equal(model.predict([x, lm], verbose=0), loaded.predict([x, lm], verbose=0))
    assert isinstance(loaded.loss, MaskedCoordinateLoss) and loaded.loss.kind == "euclidean"
    assert loaded.get_layer("stage2_block1_conv1").compute_dtype == "bfloat16"
