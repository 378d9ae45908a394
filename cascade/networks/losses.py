"""Coordinate regression losses (``keras.ops`` only).

Plain functions (``mse`` as in the paper, ``mae``, ``euclidean``) return one value per sample
like Keras' built-in losses.  ``make_loss(name, n_landmarks)`` returns a masked loss: targets may
contain NaN for absent landmarks (a landmark with any NaN coordinate is absent), which are
ignored; the result is the (sample-weighted) mean over the present terms of the whole batch, and
0 with finite (zero) gradients when nothing is present.
"""
from __future__ import annotations

import keras
from keras import ops

__all__ = ["mse", "mae", "euclidean", "MaskedCoordinateLoss", "make_loss", "LOSSES"]

LOSSES = ("mse", "mae", "euclidean")


def _safe_norm(d, axis: int = -1):
    """Euclidean norm with a zero (not NaN) gradient at 0."""
    sq = ops.sum(ops.square(d), axis=axis)
    pos = sq > 0
    return ops.where(pos, ops.sqrt(ops.where(pos, sq, ops.ones_like(sq))), ops.zeros_like(sq))


def _per_landmark(kind: str, diff):
    """Per-landmark term of ``diff`` shaped (..., 3): mean squared / mean absolute coordinate
    error, or 3D distance."""
    if kind == "mse":
        return ops.mean(ops.square(diff), axis=-1)
    if kind == "mae":
        return ops.mean(ops.abs(diff), axis=-1)
    if kind == "euclidean":
        return _safe_norm(diff, axis=-1)
    raise ValueError(f"unknown loss {kind!r}; expected one of {LOSSES}")


def _as_points(y_true, y_pred, n_landmarks: int | None = None):
    """``(y_true, y_pred)`` as float32/64 (B, N, 3); inputs may be (B, 3N) or (B, N, 3)."""
    y_pred = ops.convert_to_tensor(y_pred)
    if keras.backend.standardize_dtype(y_pred.dtype) != "float64":
        y_pred = ops.cast(y_pred, "float32")
    y_true = ops.cast(y_true, y_pred.dtype)
    if n_landmarks is None and len(y_pred.shape) == 2:
        if y_pred.shape[-1] % 3:
            raise ValueError(f"expected 3 * N outputs, got {y_pred.shape[-1]}")
        n_landmarks = y_pred.shape[-1] // 3
    if n_landmarks:
        shape = (-1, n_landmarks, 3)
        y_true, y_pred = ops.reshape(y_true, shape), ops.reshape(y_pred, shape)
    return y_true, y_pred


@keras.saving.register_keras_serializable(package="landmark_cascade")
def mse(y_true, y_pred):
    """Mean squared coordinate error per sample (the paper's loss)."""
    t, p = _as_points(y_true, y_pred)
    return ops.mean(_per_landmark("mse", p - t), axis=-1)


@keras.saving.register_keras_serializable(package="landmark_cascade")
def mae(y_true, y_pred):
    """Mean absolute coordinate error per sample."""
    t, p = _as_points(y_true, y_pred)
    return ops.mean(_per_landmark("mae", p - t), axis=-1)


@keras.saving.register_keras_serializable(package="landmark_cascade")
def euclidean(y_true, y_pred):
    """Mean 3D distance per sample; outputs (B, 3N) are read as (B, N, 3)."""
    t, p = _as_points(y_true, y_pred)
    return ops.mean(_per_landmark("euclidean", p - t), axis=-1)


@keras.saving.register_keras_serializable(package="landmark_cascade")
class MaskedCoordinateLoss(keras.losses.Loss):
    """``kind`` loss ignoring NaN targets; mean over present landmarks of the batch.

    ``sample_weight`` of shape (B,), (B, 1) or (B, N) (per landmark) weights the terms; the
    result is ``sum(w * m * term) / sum(w * m)`` with ``m`` the presence mask, 0 if that is 0.
    """

    def __init__(self, kind: str = "mse", n_landmarks: int = 1, name: str | None = None, **kwargs):
        if kind not in LOSSES:
            raise ValueError(f"unknown loss {kind!r}; expected one of {LOSSES}")
        kwargs.pop("reduction", None)
        super().__init__(name=name or f"masked_{kind}", **kwargs)
        self.kind = kind
        self.n_landmarks = int(n_landmarks)

    def __call__(self, y_true, y_pred, sample_weight=None):
        t, p = _as_points(y_true, y_pred, self.n_landmarks)
        present = ops.logical_not(ops.any(ops.isnan(t), axis=-1))  # (B, N)
        m = ops.cast(present, p.dtype)
        t = ops.where(present[..., None], t, ops.zeros_like(t))
        term = _per_landmark(self.kind, (p - t) * m[..., None])  # (B, N), 0 where absent
        w = m
        if sample_weight is not None:
            sw = ops.cast(sample_weight, p.dtype)
            per_landmark = len(sw.shape) >= 2 and sw.shape[-1] == self.n_landmarks
            w = m * ops.reshape(sw, (-1, self.n_landmarks) if per_landmark else (-1, 1))
        num, den = ops.sum(term * w), ops.sum(w)
        pos = den > 0
        return ops.where(pos, num / ops.where(pos, den, ops.ones_like(den)), ops.zeros_like(den))

    def call(self, y_true, y_pred):
        """Same as calling the loss (``__call__`` does its own masked reduction)."""
        return self(y_true, y_pred)

    def get_config(self):
        return {"name": self.name, "kind": self.kind, "n_landmarks": self.n_landmarks}


def make_loss(name: str, n_landmarks: int) -> MaskedCoordinateLoss:
    """Masked ``mse`` / ``mae`` / ``euclidean`` loss for outputs of ``3 * n_landmarks`` values."""
    return MaskedCoordinateLoss(name, n_landmarks)
