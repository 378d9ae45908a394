"""A stage's model: built from the bundle's settings (``cascade.stages`` + ``NetConfig``), or loaded.

Every number that shapes the network (depth, width, base filters, L2, identity embedding, norm,
dtype policy, loss) comes from the config saved in the bundle; nothing is a module constant.
"""
from __future__ import annotations

from pathlib import Path

import keras

from cascade.config import NetConfig
from cascade.networks.losses import make_loss
from cascade.networks.resnet3d import build_resnet3d
from cascade.stages import Stage


def build_stage_model(stage: Stage, n_landmarks: int, net: NetConfig | None = None,
                      compile: bool = True) -> keras.Model:
    """An untrained model for ``stage`` with ``n_landmarks`` landmarks (compiled unless ``compile=False``).

    The compiled metric ``coord`` is the coordinate loss without the L2 penalty, in the stage's
    normalised target units (phase 1: fractions of the field of view; local: of the crop)."""
    net = net or stage.cfg.net
    model = build_resnet3d(stage.input_shape, stage.n_outputs(n_landmarks), depth=net.depth, width=net.width,
                           base_filters=net.base_filters, l2=net.l2, identity_classes=stage.identity_classes(n_landmarks),
                           identity_dim=net.identity_dim, dtype_policy=net.dtype_policy, norm=net.norm,
                           name=f"phase{stage.phase}")
    if compile:
        outputs = n_landmarks if stage.phase == 1 else 1
        model.compile(optimizer=keras.optimizers.Adam(net.learning_rate), loss=make_loss(net.loss, outputs),
                      metrics=[make_loss(net.loss, outputs).__class__(net.loss, outputs, name="coord")])
    return model


def load_model(path: str | Path, compile: bool = False) -> keras.Model:
    """A saved model (``safe_mode=True``: no arbitrary code; custom layers and losses registered)."""
    return keras.models.load_model(path, safe_mode=True, compile=compile)
