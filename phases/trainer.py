"""Train one phase of the cascade into a bundle: model building, data, checkpoints, resume.

What a phase trains on comes from its stage (``cascade.stages``): phase 1 on one global input
per case (held in memory), phases 2 and 3 on crops cut on the fly at random shifts around the
true landmarks; batch ``b`` of epoch ``e`` is drawn from ``numpy.random.default_rng([seed, e, b])``, so a run is
reproducible and a resumed run sees the same crops it would have seen.

Every epoch the model (with optimiser state) is saved to ``checkpoints/`` and a row is appended
to ``logs/``; ``resume=True`` continues from the last checkpoint. Early stopping (on the
validation coordinate loss without the L2 penalty, ``val_coord``, restoring the best weights)
applies when the phase's ``patience`` > 0 and validation cases exist; its state (best value,
wait count, best epoch, whether it stopped, and the best weights) is checkpointed with the
model, so a resumed run, mid-patience or after the stop, ends with the same model as an
uninterrupted one. Final models are written atomically.

Feedback (``phases.feedback``): Keras prints nothing (``fit(verbose=0)``, so nothing reaches
stdout); an ``EpochReport`` writes one line per epoch on stderr with the loss and the train and
validation errors in mm (``coord`` in the logs is in normalised target units, not mm).
"""
from __future__ import annotations

import json
from typing import Callable, Sequence

import keras
import numpy as np

from cascade.bundle import Bundle
from cascade.case import Case
from cascade.networks.build import build_stage_model
from cascade.progress import Progress
from data.atomic import atomic_open, atomic_path
from phases.feedback import EpochReport, ErrorProbe, announce, training_probe


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow (the run's own random streams)."""
    keras.utils.set_random_seed(int(seed))


def make_deterministic() -> None:
    """Ask TensorFlow for deterministic ops, process-wide: an entry point's choice (the training
    CLI makes it), never switched by a library function. Identical reruns need it."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


def build_phase_model(bundle: Bundle, phase: int) -> keras.Model:
    """A compiled, untrained model for ``phase`` as the bundle's config describes."""
    return build_stage_model(bundle.stage(phase), len(bundle.names))


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


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """``EarlyStopping`` whose state can be saved and restored (``state`` / ``restore``)."""

    KEYS = ("wait", "stopped_epoch", "best", "best_epoch")

    def __init__(self, *args, restore: dict | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._restore = restore

    def on_train_begin(self, logs=None) -> None:
        super().on_train_begin(logs)  # resets the state...
        if self._restore:  # ...which a resumed run then takes from its checkpoint
            for key in self.KEYS:
                setattr(self, key, self._restore[key])
            self.best_weights = self._restore.get("best_weights")

    def state(self) -> dict:
        """The counters as JSON-ready numbers (``best`` is None before the first epoch)."""
        best = None if self.best is None else float(self.best)
        return {"wait": int(self.wait), "stopped_epoch": int(self.stopped_epoch), "best": best,
                "best_epoch": int(self.best_epoch)}


def _best_weights_path(path, epoch: int):
    return path.with_name(f"{path.stem}.best{epoch}.npz")


class EpochCheckpoint(keras.callbacks.Callback):
    """Save the model (with optimiser state), the epoch number and the early-stopping state after every epoch.

    Best weights go to ``<checkpoint>.best<epoch>.npz`` (written when they change, older ones removed
    after the state file names the new one), so the state file never names a file that is not complete.
    """

    def __init__(self, path, state_path, early: ResumableEarlyStopping | None = None) -> None:
        super().__init__()
        self.path, self.state_path, self.early = path, state_path, early

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        with atomic_path(self.path) as tmp:
            self.model.save(tmp)
        state: dict = {"epoch": epoch, "logs": {k: float(v) for k, v in (logs or {}).items()}}
        keep = None
        if self.early is not None:
            state["early_stopping"] = self.early.state()
            if self.early.best_weights is not None:
                keep = _best_weights_path(self.path, self.early.best_epoch)
                if self.early.best_epoch == epoch or not keep.exists():
                    with atomic_path(keep) as tmp:
                        np.savez(tmp, *self.early.best_weights)
                state["early_stopping"]["best_weights"] = keep.name
        with atomic_open(self.state_path) as fh:
            json.dump(state, fh)
        for old in self.path.parent.glob(f"{self.path.stem}.best*.npz"):
            if old != keep:
                old.unlink(missing_ok=True)


def _load_early_state(state: dict, ckpt) -> dict | None:
    """The early-stopping state of a checkpoint, best weights loaded (None if it has none)."""
    early = state.get("early_stopping")
    if not early:
        return None
    early = dict(early)
    if early.get("best_weights"):
        with np.load(ckpt.with_name(early["best_weights"])) as npz:
            early["best_weights"] = [npz[f"arr_{n}"] for n in range(len(npz.files))]
    return early


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
                resume: bool = False, verbose: int = 1, strategy=None, landmark: int | None = None,
                extra_callbacks: Sequence = (), progress: Progress | None = None) -> keras.Model:
    """Train phase 1, 2 or 3 (for per-landmark local models: the model of ``landmark``).

    Reruns are identical only under ``make_deterministic()`` (the training CLI calls it).

    ``verbose``: 0/1/2 as the training CLI's ``--verbose`` (one line per epoch at every level);
    ``progress``: the phase's bar of epochs (default: one for this model alone);
    ``extra_callbacks``: more Keras callbacks (e.g. timers for benchmarks)."""
    import tensorflow as tf

    cfg = bundle.phase_config(phase)
    net = cfg.net
    strategy = strategy or tf.distribute.get_strategy()
    ckpt, log = bundle.checkpoint_path(phase, landmark), bundle.log_path(phase, landmark)
    state = ckpt.with_suffix(".json")
    initial_epoch, early_state = 0, None
    set_seed(seed + 1000 * phase + (landmark or 0))
    with strategy.scope():
        if resume and ckpt.exists() and state.exists():
            model = keras.models.load_model(ckpt, safe_mode=True)
            saved = json.loads(state.read_text())
            initial_epoch, early_state = saved["epoch"] + 1, _load_early_state(saved, ckpt)
        else:
            model = build_phase_model(bundle, phase)
            if bundle.info.get("init_from"):  # warm start: same architecture, weights of another bundle
                model.set_weights(Bundle.open(bundle.info["init_from"]).load_model(phase, landmark).get_weights())
    log.parent.mkdir(parents=True, exist_ok=True)
    early = None
    if net.patience > 0 and val:
        early = ResumableEarlyStopping(monitor="val_coord", mode="min", patience=net.patience,
                                       restore_best_weights=True, restore=early_state)
    resumed_at = initial_epoch
    if early_state and early_state["stopped_epoch"] > 0:
        initial_epoch = net.epochs  # it had stopped: train no further
    stage = bundle.stage(phase)
    draw, samples = stage.training_batches(train, landmark)
    steps = max(1, int(np.ceil(samples / net.batch_size)))
    val_data = stage.validation(val, landmark, seed)
    bar = progress or Progress(net.epochs, f"phase {phase} epoch", bar=None if verbose else False)
    name = "" if landmark is None else f"landmark {bundle.names[landmark]}"
    if resumed_at:
        stopped = " (it had stopped early: nothing left to train)" if initial_epoch > resumed_at else ""
        announce(bar, f"{name + ': ' if name else ''}resumed from its checkpoint after epoch {resumed_at}/{net.epochs}"
                      + stopped, n=min(initial_epoch, net.epochs))
    report = EpochReport(bar, training_probe(stage, train, landmark, seed), ErrorProbe.of(stage, val, val_data),
                         verbose, name, net.epochs)
    # early stopping first: the checkpoint written after it holds this epoch's early-stopping state
    callbacks: list = [keras.callbacks.CSVLogger(str(log), append=initial_epoch > 0), *([early] if early else []),
                       EpochCheckpoint(ckpt, state, early), *extra_callbacks, report]
    fit_args = dict(x=SeededBatches(draw, net.batch_size * strategy.num_replicas_in_sync, steps, seed,
                                    initial_epoch, net.epochs), steps_per_epoch=steps, shuffle=False)
    replicas = strategy.num_replicas_in_sync
    if initial_epoch < net.epochs:
        model.fit(**fit_args, validation_data=_even(val_data, replicas), validation_batch_size=8 * replicas,
                  epochs=net.epochs, initial_epoch=initial_epoch, callbacks=callbacks, verbose=0)
    elif early is not None and early_state and early_state.get("best_weights") is not None:
        model.set_weights(early_state["best_weights"])  # what the finished run's early stopping restored
    if early is not None and early.stopped_epoch > 0:
        bar.log(f"phase {phase}{' ' + name if name else ''}: stopped early after epoch {early.stopped_epoch + 1} "
                f"(no better val_coord for {net.patience} epochs); keeping the weights of epoch {early.best_epoch + 1}")
    if progress is None:
        bar.close()
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
