"""3D pre-activation ResNets (He et al. 2016, "Identity Mappings in Deep Residual Networks") for
landmark coordinate regression in the multi-phase cascade (Nishimoto et al.).

Volumes are channels-last ``(D, H, W, C)``: the first spatial axis is depth (slices), i.e. a
volume indexed ``[k, i, j]`` is fed as-is with a trailing channel axis.  Any spatial size works
("same" padding, global average pooling); the total stride is 32, so sizes >= 16 per axis are
sensible.  The head is a linear ``Dense(outputs)`` in float32 giving normalised coordinates; the
caller maps them to voxels.  As in Keras' ResNetV2 the stem (7^3 conv stride 2, 3^3 max-pool
stride 2) has no BN/ReLU: every block starts with BN-ReLU, and a final BN-ReLU precedes pooling.

With ``identity_classes=N`` the model has two inputs, named ``image`` and ``landmark`` (one-hot,
shape ``(N,)``): the landmark is embedded, FiLM-modulates the residual stream after each stage
and is concatenated to the pooled features before the head, so one local model serves all
landmarks.  Call it as ``model({"image": x, "landmark": onehot})`` or ``model([x, onehot])``.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import keras
from keras import layers, ops

__all__ = ["FiLM", "build_resnet3d", "count_flops", "forward_gflops", "stage_filters", "ARCHS"]

#: depth -> (block kind, blocks per stage)
ARCHS: dict[int, tuple[str, tuple[int, ...]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
}
_EXPANSION = {"basic": 1, "bottleneck": 4}
_SERIAL_PACKAGE = "landmark_cascade"
GROUPS = 8  # channel groups of GroupNormalization (fewer where the channel count needs it)
NORMS = ("batch", "group")


def stage_filters(base_filters: int = 64, width: float = 1.0) -> list[int]:
    """Inner filters of the four stages: ``base_filters * 2**s * width`` rounded, at least 4."""
    return [max(4, int(round(base_filters * (2 ** s) * width))) for s in range(4)]


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class FiLM(layers.Layer):
    """Feature-wise linear modulation ``x * (1 + gamma(c)) + beta(c)`` with per-channel gamma, beta
    linear in the conditioning vector ``c`` (shape ``(batch, cond_dim)``), broadcast over space.

    The kernel starts small (``init_stddev``) so the block starts close to the identity map.
    """

    def __init__(self, init_stddev: float = 0.05, kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.init_stddev = float(init_stddev)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, x_shape, cond_shape):
        self.channels = int(x_shape[-1])
        self.kernel = self.add_weight(
            name="kernel", shape=(int(cond_shape[-1]), 2 * self.channels),
            initializer=keras.initializers.RandomNormal(stddev=self.init_stddev),
            regularizer=self.kernel_regularizer)
        self.bias = self.add_weight(name="bias", shape=(2 * self.channels,), initializer="zeros")

    def call(self, x, cond):
        gb = ops.matmul(cond, self.kernel) + self.bias
        gamma, beta = ops.split(gb, 2, axis=-1)
        bshape = (-1,) + (1,) * (len(x.shape) - 2) + (self.channels,)
        return x * (1.0 + ops.reshape(gamma, bshape)) + ops.reshape(beta, bshape)

    def compute_output_shape(self, x_shape, cond_shape):
        return x_shape

    def macs(self) -> int:
        """Multiply-adds of the conditioning projection (per sample)."""
        return int(self.kernel.shape[0] * self.kernel.shape[1])

    def get_config(self):
        return {**super().get_config(), "init_stddev": self.init_stddev,
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer)}


@dataclass
class _Builder:
    """Layer factory sharing dtype policy, regularizer and naming between the two block kinds."""

    dtype: str
    l2: float
    norm: str = "batch"

    @property
    def reg(self):
        return keras.regularizers.L2(self.l2) if self.l2 > 0 else None

    def conv(self, x, filters: int, kernel: int, stride: int, name: str):
        return layers.Conv3D(filters, kernel, strides=stride, padding="same", use_bias=False,
                             kernel_initializer="he_normal", kernel_regularizer=self.reg,
                             dtype=self.dtype, name=name)(x)

    def bn_relu(self, x, name: str):
        if self.norm == "group":  # batch-size independent: same behaviour in training and inference
            groups = math.gcd(int(x.shape[-1]), GROUPS)
            x = layers.GroupNormalization(groups=groups, epsilon=1e-5, dtype=self.dtype, name=f"{name}_gn")(x)
        else:
            x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, dtype=self.dtype,
                                          name=f"{name}_bn")(x)
        return layers.Activation("relu", dtype=self.dtype, name=f"{name}_relu")(x)

    def block(self, x, kind: str, filters: int, stride: int, name: str):
        """Pre-activation residual block; ``kind`` only chooses the conv sequence."""
        if kind == "basic":
            convs = [(3, filters, stride), (3, filters, 1)]
        else:
            convs = [(1, filters, 1), (3, filters, stride), (1, filters * _EXPANSION[kind], 1)]
        out_channels = convs[-1][1]
        preact = self.bn_relu(x, f"{name}_preact")
        if stride != 1 or x.shape[-1] != out_channels:
            shortcut = self.conv(preact, out_channels, 1, stride, f"{name}_proj")
        else:
            shortcut = x
        y = preact
        for i, (k, f, s) in enumerate(convs):
            if i:
                y = self.bn_relu(y, f"{name}_{i}")
            y = self.conv(y, f, k, s, f"{name}_conv{i + 1}")
        return layers.Add(dtype=self.dtype, name=f"{name}_add")([shortcut, y])


def build_resnet3d(input_shape: Sequence[int | None], outputs: int, *, depth: int = 50,
                   width: float = 1.0, base_filters: int = 64, l2: float = 1e-4,
                   identity_classes: int | None = None, dtype_policy: str | None = None,
                   name: str | None = None, identity_dim: int = 64, norm: str = "batch") -> keras.Model:
    """Build a 3D pre-activation ResNet regressor.

    Args:
        input_shape: ``(D, H, W, C)``, channels last, D = slices (volume indexed ``[k, i, j]``).
        outputs: units of the linear float32 head (e.g. ``3 * n_landmarks``).
        depth: 18 / 34 (basic blocks) or 50 / 101 (bottleneck blocks, x4 expansion).
        width: multiplier on all channel counts (``stage_filters``).
        base_filters: stage-1 inner filters at width 1 (also the stem's filters).
        l2: L2 weight decay on conv / dense / FiLM kernels (0 disables).
        identity_classes: if set, add the one-hot ``landmark`` input (FiLM after each stage and
            concatenated before the head).
        dtype_policy: None / "float32" / "mixed_bfloat16"; applied per layer, never globally.
        name: model name (default ``resnet3d{depth}``).
        identity_dim: size of the landmark embedding feeding the FiLM layers.
        norm: "batch" (BatchNormalization, as the paper's ResNet) or "group" (GroupNormalization,
            independent of the batch size: better for the small batches of 3D training on a CPU).
    """
    if depth not in ARCHS:
        raise ValueError(f"depth must be one of {sorted(ARCHS)}, got {depth}")
    if len(input_shape) != 4:
        raise ValueError(f"input_shape must be (D, H, W, C), got {tuple(input_shape)}")
    policy = keras.DTypePolicy(dtype_policy or "float32").name
    if policy not in ("float32", "mixed_bfloat16"):  # mixed_float16 would need loss scaling
        raise ValueError(f"dtype_policy must be None, 'float32' or 'mixed_bfloat16', got {dtype_policy!r}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    kind, blocks = ARCHS[depth]
    filters = stage_filters(base_filters, width)
    b = _Builder(policy, float(l2), norm)

    image = keras.Input(shape=tuple(input_shape), name="image", dtype="float32")
    inputs: list = [image]
    embed = landmark = None
    if identity_classes:
        landmark = keras.Input(shape=(int(identity_classes),), name="landmark", dtype="float32")
        inputs.append(landmark)
        embed = layers.Dense(identity_dim, use_bias=False, kernel_regularizer=b.reg,
                             dtype=policy, name="landmark_embed")(landmark)

    x = b.conv(image, filters[0], 7, 2, "stem_conv")
    x = layers.MaxPooling3D(3, strides=2, padding="same", dtype=policy, name="stem_pool")(x)
    for s, (n_blocks, f) in enumerate(zip(blocks, filters)):
        for i in range(n_blocks):
            stride = 2 if (s > 0 and i == 0) else 1
            x = b.block(x, kind, f, stride, f"stage{s + 1}_block{i + 1}")
        if embed is not None:
            x = FiLM(kernel_regularizer=b.reg, dtype=policy, name=f"stage{s + 1}_film")(x, embed)
    x = b.bn_relu(x, "final")
    x = layers.GlobalAveragePooling3D(dtype=policy, name="gap")(x)
    if landmark is not None:
        x = layers.Concatenate(dtype="float32", name="head_concat")([x, landmark])
    out = layers.Dense(outputs, kernel_regularizer=b.reg, dtype="float32", name="coords")(x)
    return keras.Model(inputs if len(inputs) > 1 else image, out, name=name or f"resnet3d{depth}")


def _layer_macs(layer) -> int:
    """Multiply-adds per sample of one conv / dense / FiLM layer (0 for anything else)."""
    if isinstance(layer, FiLM):
        return layer.macs()
    if isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D, layers.Dense)):
        out_shape = tuple(layer.output.shape)[1:]
        if any(d is None for d in out_shape):
            raise ValueError(f"{layer.name}: static input shape needed to count FLOPs")
        kernel = tuple(layer.kernel.shape)  # (*k, in // groups, out) or (in, out)
        return math.prod(out_shape) * math.prod(kernel[:-1])
    return 0


def count_flops(model: keras.Model) -> int:
    """Forward FLOPs per sample (2 x multiply-adds) of the conv / dense / FiLM layers of a built
    model with a static input shape; nested models are included."""
    total = 0
    for layer in model.layers:
        total += count_flops(layer) if isinstance(layer, keras.Model) else 2 * _layer_macs(layer)
    return total


@functools.lru_cache(maxsize=32)
def _cached_gflops(depth: int, width: float, input_shape: tuple, outputs: int,
                   identity_classes: int | None) -> float:
    model = build_resnet3d(input_shape, outputs, depth=depth, width=width, l2=0.0,
                           identity_classes=identity_classes)
    return count_flops(model) / 1e9


def forward_gflops(depth: int, width: float, input_shape: Sequence[int], outputs: int = 48,
                   identity_classes: int | None = None) -> float:
    """Analytic forward GFLOP per sample (conv / dense multiply-adds x 2) of ``build_resnet3d``."""
    return _cached_gflops(int(depth), float(width), tuple(int(d) for d in input_shape),
                          int(outputs), identity_classes)
