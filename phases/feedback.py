"""What training tells its user: one line per epoch with errors in millimetres, on one stream.

The networks learn normalised targets (``cascade.stages``): phase 1 a landmark's position across
the scan's field of view (-0.5..0.5 per axis), phases 2-3 its position in the crop. Keras's
``coord`` metric (in ``logs/phaseN.csv``) is the coordinate loss in those units (for the default
``mse`` loss: the mean squared per-axis error, a fraction of the field of view or crop squared),
not millimetres. ``EpochReport`` therefore measures the 3D error in mm itself after every epoch:
it runs the model on a fixed set of training samples (``train error``) and on the validation
samples (``val error``) and scales each normalised axis by its extent in mm (phase 1: each
scan's field of view; phases 2-3: the crop), so the line reads

    phase 2 epoch 3/8 (38 %), about 1 min 02 s left: loss 0.0123, train error 4.1 mm, val error 5.2 mm, 12 s

The lines go through ``cascade.progress.Progress`` (stderr): on a terminal a bar of the phase's
epochs is redrawn below them; elsewhere (a log file) each epoch is that one plain line.
"""
from __future__ import annotations

import time
from typing import Sequence

import keras
import numpy as np

from cascade.case import Case
from cascade.global_grid import GlobalGrid
from cascade.progress import Progress, duration
from cascade.stages import LocalStage, Stage

PROBE_CASES = 8  # training cases whose samples give the "train error"
CHUNK = 32  # samples per forward pass when measuring errors


def mm_per_unit(stage: Stage, cases: Sequence[Case]) -> np.ndarray:
    """Millimetres per normalised target unit along each axis: (1, 1, 3) for a crop, (cases, 1, 3)
    for phase 1 (each scan's field of view); broadcasts against targets shaped (samples, N, 3)."""
    if isinstance(stage, LocalStage):
        return (np.asarray(stage.cfg.size, float) * np.asarray(stage.cfg.spacing, float)).reshape(1, 1, 3)
    grids = [GlobalGrid.for_volume(case.volume, stage.cfg.shape) for case in cases]
    return np.stack([g.spacing * np.asarray(g.shape, float) for g in grids])[:, None, :]


def _predict(model: keras.Model, x) -> np.ndarray:
    """The model's outputs for ``x`` (an array or a dict of arrays), in chunks, inference mode."""
    n = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
    out = []
    for s in range(0, n, CHUNK):
        part = {k: v[s:s + CHUNK] for k, v in x.items()} if isinstance(x, dict) else x[s:s + CHUNK]
        out.append(np.asarray(model(part, training=False), float))
    return np.concatenate(out)


def mean_error_mm(pred: np.ndarray, target: np.ndarray, scale: np.ndarray) -> float:
    """Mean 3D distance (mm) between normalised ``pred`` and ``target`` over present (non-NaN) landmarks."""
    p = np.asarray(pred, float).reshape(len(pred), -1, 3)
    t = np.asarray(target, float).reshape(len(target), -1, 3)
    present = ~np.isnan(t).any(axis=-1)
    dist = np.linalg.norm((p - np.nan_to_num(t)) * scale, axis=-1)
    return float(dist[present].mean()) if present.any() else float("nan")


class ErrorProbe:
    """Normalised samples with their mm scale: ``error(model)`` is the model's mean 3D error on them in mm."""

    def __init__(self, data, scale: np.ndarray) -> None:
        self.x, self.y = data
        self.scale = scale

    @classmethod
    def of(cls, stage: Stage, cases: Sequence[Case], data) -> "ErrorProbe | None":
        """The probe of ``data`` = ``stage.validation(cases, ...)`` (None without data)."""
        return None if data is None else cls(data, mm_per_unit(stage, cases))

    def error(self, model: keras.Model) -> float:
        return mean_error_mm(_predict(model, self.x), self.y, self.scale)


def training_probe(stage: Stage, train: Sequence[Case], landmark: int | None, seed: int) -> ErrorProbe | None:
    """A fixed sample of the training data (the first ``PROBE_CASES`` cases; crops at seeded shifts)."""
    cases = list(train[:PROBE_CASES])
    try:
        data = stage.validation(cases, landmark, seed + 1)
    except ValueError:  # e.g. a per-landmark model whose landmark none of these cases has
        return None
    return ErrorProbe.of(stage, cases, data)


def announce(bar: Progress, message: str, n: int = 1) -> None:
    """``n`` steps of ``bar`` with a line that stays: a plain line off a terminal, a line above the
    redrawn bar on one."""
    if bar.bar:
        bar.step(n=n)
        bar.log(bar.status(message))
    else:
        bar.step(message, n=n)


class EpochReport(keras.callbacks.Callback):
    """After each epoch: ``loss``, train and validation error in mm and the epoch's time, on ``bar``."""

    def __init__(self, bar: Progress, train: ErrorProbe | None, val: ErrorProbe | None, verbose: int = 1,
                 model: str = "", epochs: int = 0) -> None:
        """``model``: which of a phase's models (per-landmark phases), named with its own epoch of ``epochs``."""
        super().__init__()
        self.bar, self.train, self.val, self.verbose = bar, train, val, verbose
        self.model_name, self.epochs = model, epochs
        self.t0 = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        seconds = time.perf_counter() - self.t0
        parts = [f"loss {logs['loss']:.4g}"] if "loss" in logs else []
        for name, probe in (("train", self.train), ("val", self.val)):
            if probe is not None:
                parts.append(f"{name} error {probe.error(self.model):.1f} mm")
        parts.append(f"{duration(seconds)} this epoch")
        if self.verbose >= 2:
            parts.append("keras: " + ", ".join(f"{k} {float(v):.4g}" for k, v in logs.items()))
        prefix = f"{self.model_name} epoch {epoch + 1}/{self.epochs}: " if self.model_name else ""
        announce(self.bar, prefix + ", ".join(parts))
