"""Train one phase of the cascade into a bundle: model building, data, checkpoints, resume.

Phase 1 trains on one global input per case (held in memory). Phases 2 and 3 train on crops
cut on the fly at random shifts around the true landmarks (``cascade.samples.CropSampler``);
batch ``b`` of epoch ``e`` is drawn from ``numpy.random.default_rng([seed, e, b])``, so a run is
reproducible and a resumed run sees the same crops it would have seen.

Every epoch the model (with optimiser state) is saved to ``checkpoints/`` and a row is appended
to ``logs/``; ``resume=True`` continues from the last checkpoint. Early stopping (on the
validation coordinate loss without the L2 penalty, ``val_coord``, restoring the best weights)
applies when the phase's ``patience`` > 0 and validation cases exist. Final models are written
atomically.
"""
from __future__ import annotations

import json
from typing import Callable, Sequence

import keras
import numpy as np

from cascade.bundle import Bundle
from cascade.samples import Case, CropSampler, global_sample
from data.atomic import atomic_open, atomic_path
from phases.losses import make_loss
from phases.resnet3d import build_resnet3d

VAL_CROPS_MAX = 256


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and ask TensorFlow for deterministic ops."""
    import tensorflow as tf

    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


def build_phase_model(bundle: Bundle, phase: int) -> keras.Model:
    """A compiled, untrained model for ``phase`` as the bundle's config describes."""
    cfg = bundle.phase_config(phase)
    net = cfg.net
    n = len(bundle.names)
    shape = tuple(cfg.shape if phase == 1 else cfg.size) + (1,)
    identity = n if (phase > 1 and cfg.shared) else None
    model = build_resnet3d(shape, 3 * n if phase == 1 else 3, depth=net.depth, width=net.width,
                           identity_classes=identity, dtype_policy=net.dtype_policy, norm=net.norm, name=f"phase{phase}")
    outputs = n if phase == 1 else 1
    # "coord": the coordinate loss without the L2 penalty, which early stopping watches
    model.compile(optimizer=keras.optimizers.Adam(net.learning_rate), loss=make_loss(net.loss, outputs),
                  metrics=[make_loss(net.loss, outputs).__class__(net.loss, outputs, name="coord")])
    return model


class SeededBatches(keras.utils.PyDataset):
    """Seeded random full batches, a fresh set every epoch.

    ``draw(rng, batch_size) -> (x, y)`` makes one batch. The dataset is one long sequence of
    ``steps`` batches per epoch for epochs ``first_epoch..epochs-1``, read in order
    (``fit(..., steps_per_epoch=steps, shuffle=False)``): item ``n`` is batch ``n % steps`` of
    epoch ``first_epoch + n // steps``, drawn from ``rng([seed, epoch, batch])``. Keying on the
    position (not on ``on_epoch_end``, which Keras calls out of step with its prefetching) makes
    runs reproducible and resumed runs identical to uninterrupted ones; batches are always full,
    so they split evenly across replicas.
    """

    def __init__(self, draw: Callable, batch_size: int, steps: int, seed: int, first_epoch: int, epochs: int) -> None:
        super().__init__()
        self.draw, self.batch_size, self.steps, self.seed = draw, batch_size, steps, seed
        self.first_epoch, self.epochs = first_epoch, epochs

    def __len__(self) -> int:
        return self.steps * max(0, self.epochs - self.first_epoch)

    def __getitem__(self, index: int):
        epoch, batch = divmod(self.first_epoch * self.steps + index, self.steps)
        return self.draw(np.random.default_rng([self.seed, epoch, batch]), self.batch_size)


class EpochCheckpoint(keras.callbacks.Callback):
    """Save the model (with optimiser state) and the epoch number after every epoch."""

    def __init__(self, path, state_path) -> None:
        super().__init__()
        self.path, self.state_path = path, state_path

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        with atomic_path(self.path) as tmp:
            self.model.save(tmp)
        with atomic_open(self.state_path) as fh:
            json.dump({"epoch": epoch, "logs": {k: float(v) for k, v in (logs or {}).items()}}, fh)


def _phase1_data(cases: Sequence[Case], bundle: Bundle):
    if not cases:
        return None
    xs, ys = zip(*[global_sample(c, bundle.config.phase1)[:2] for c in cases])
    return np.stack(xs), np.stack(ys)


def _val_crops(cases: Sequence[Case], bundle: Bundle, phase: int, landmark: int | None, seed: int, identity: bool):
    if not cases:
        return None
    sampler = CropSampler(list(cases), bundle.phase_config(phase), landmark)
    n = min(VAL_CROPS_MAX, 4 * len(sampler.pairs))
    x, y = sampler.batch(np.random.default_rng([seed, 10**6]), n)
    return (x if identity else x["image"]), y


def _even(data, replicas: int):
    """Repeat validation samples cyclically so their count is a multiple of the replica count."""
    if data is None or replicas == 1:
        return data
    x, y = data
    n = len(y)
    pick = np.arange(-(-n // replicas) * replicas) % n
    x = {k: v[pick] for k, v in x.items()} if isinstance(x, dict) else x[pick]
    return x, y[pick]


def train_phase(bundle: Bundle, phase: int, train: Sequence[Case], val: Sequence[Case], *, seed: int = 0,
                resume: bool = False, verbose: int | str = "auto", strategy=None,
                landmark: int | None = None, extra_callbacks: Sequence = ()) -> keras.Model:
    """Train phase 1, 2 or 3 (for per-landmark local models: the model of ``landmark``).

    ``extra_callbacks``: more Keras callbacks (e.g. timers for benchmarks)."""
    import tensorflow as tf

    cfg = bundle.phase_config(phase)
    net = cfg.net
    strategy = strategy or tf.distribute.get_strategy()
    ckpt, log = bundle.checkpoint_path(phase, landmark), bundle.log_path(phase, landmark)
    state = ckpt.with_suffix(".json")
    initial_epoch = 0
    set_seed(seed + 1000 * phase + (landmark or 0))
    with strategy.scope():
        if resume and ckpt.exists() and state.exists():
            model = keras.models.load_model(ckpt, safe_mode=True)
            initial_epoch = json.loads(state.read_text())["epoch"] + 1
        else:
            model = build_phase_model(bundle, phase)
    log.parent.mkdir(parents=True, exist_ok=True)
    callbacks: list = [keras.callbacks.CSVLogger(str(log), append=initial_epoch > 0), EpochCheckpoint(ckpt, state),
                       *extra_callbacks]
    if net.patience > 0 and val:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_coord", mode="min", patience=net.patience,
                                                       restore_best_weights=True))
    if phase == 1:
        x, y = _phase1_data(train, bundle)

        def draw(rng, size):
            pick = rng.integers(len(x), size=size)
            return x[pick], y[pick]

        steps = max(1, int(np.ceil(len(train) / net.batch_size)))
        val_data = _phase1_data(val, bundle)
    else:
        sampler = CropSampler(list(train), cfg, None if cfg.shared else landmark)

        def draw(rng, size):
            xb, yb = sampler.batch(rng, size)
            return (xb if cfg.shared else xb["image"]), yb

        steps = max(1, int(np.ceil(len(train) * cfg.crops_per_case / net.batch_size)))
        val_data = _val_crops(val, bundle, phase, None if cfg.shared else landmark, seed, cfg.shared)
    fit_args = dict(x=SeededBatches(draw, net.batch_size * strategy.num_replicas_in_sync, steps, seed,
                                    initial_epoch, net.epochs), steps_per_epoch=steps, shuffle=False)
    replicas = strategy.num_replicas_in_sync
    if initial_epoch < net.epochs:
        model.fit(**fit_args, validation_data=_even(val_data, replicas), validation_batch_size=8 * replicas,
                  epochs=net.epochs, initial_epoch=initial_epoch, callbacks=callbacks, verbose=verbose)
    save_for_inference(model, bundle.model_path(phase, landmark))
    return model


def save_for_inference(model: keras.Model, path) -> None:
    """Write the model's architecture and weights only (no optimiser state: a third of the size)."""
    spec = json.loads(model.to_json())
    spec.pop("compile_config", None)  # else the reloaded model is compiled and saves optimiser slots
    bare = keras.models.model_from_json(json.dumps(spec))
    bare.set_weights(model.get_weights())
    with atomic_path(path) as tmp:
        bare.save(tmp)
