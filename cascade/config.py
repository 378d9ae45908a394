"""Cascade configuration and the two presets.

``paper``: as Nishimoto et al. -- ResNet-50 everywhere, phase-1 grid 81 x 96 x 96, local crops
of 100 x 100 then 50 x 50 pixels of ~0.98 mm over 81 slices, one model per landmark per local
phase. For GPU users.

``fast`` (default): the same method sized for a CPU -- slim ResNet-18 (width 0.25, i.e. 16
channels in the stem) with GroupNorm (BatchNorm statistics of the small 3D batches a CPU can
afford made inference-mode predictions several times worse than training ones), one shared
model per local phase for all landmarks (landmark identity as a second input), smaller crops
defined in millimetres, early stopping.

Sizes are (k, i, j) = (slices, rows, columns) of the canonical volume (k superior, i posterior,
j left); crop spacings are millimetres, so any slice thickness gives the same physical box.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

PRESETS = ("fast", "paper")


@dataclass(frozen=True)
class NetConfig:
    """Network and optimisation settings of one phase."""

    depth: int = 18
    width: float = 0.25
    loss: str = "mse"
    learning_rate: float = 1e-3
    batch_size: int = 8
    epochs: int = 60
    patience: int = 8  # early stopping on validation loss (0: train all epochs)
    dtype_policy: str = "float32"
    norm: str = "group"  # "group" (GroupNorm, batch-size independent) or "batch" (BatchNorm, the paper's)


# local phases see 36 new crops per case per epoch: fewer epochs (a 2-core CPU trains all three
# phases on 90 cases in about an hour)
LOCAL_NET = NetConfig(epochs=20, patience=5)


@dataclass(frozen=True)
class GlobalPhaseConfig:
    """Phase 1: whole scan, binarised, shrunk onto ``shape``."""

    shape: tuple[int, int, int] = (81, 96, 96)
    intensity: str = "bone"
    bone_threshold_hu: float = 300.0
    net: NetConfig = field(default_factory=NetConfig)


@dataclass(frozen=True)
class LocalPhaseConfig:
    """Phase 2 or 3: crops of ``size`` voxels of ``spacing`` mm around the previous estimate."""

    size: tuple[int, int, int] = (32, 64, 64)
    spacing: tuple[float, float, float] = (2.0, 1.25, 1.25)
    intensity: str = "window"
    bone_threshold_hu: float = 300.0
    shift_mm: float = 20.0  # training crops: centre = truth + uniform shift within +-shift_mm per axis
    crops_per_case: int = 36  # paper: 36 shifted crops per case
    shared: bool = True  # one model for all landmarks (landmark identity input) vs one per landmark
    net: NetConfig = field(default_factory=NetConfig)


COARSE_METHODS = ("network", "atlas")


@dataclass(frozen=True)
class CoarseConfig:
    """How the first estimate is made: the phase-1 ``network``, or ``atlas`` registration of the
    bundle's reduced labelled heads (``cascade.atlas``; ``mode`` "affine", "bspline" or "search")."""

    method: str = "network"
    mode: str = "affine"
    spacing: float = 2.0
    search_mm: float = 4.0
    scales: tuple[float, ...] = (0.88, 0.94, 1.0, 1.06, 1.12)
    margin_mm: float = 20.0


@dataclass(frozen=True)
class CascadeConfig:
    """All three phases plus the preset name and the coarse-stage method."""

    preset: str = "fast"
    phase1: GlobalPhaseConfig = field(default_factory=GlobalPhaseConfig)
    phase2: LocalPhaseConfig = field(default_factory=lambda: LocalPhaseConfig(net=LOCAL_NET))
    phase3: LocalPhaseConfig = field(default_factory=lambda: LocalPhaseConfig(
        size=(24, 40, 40), spacing=(1.0, 0.6, 0.6), shift_mm=6.0, net=LOCAL_NET))
    coarse: CoarseConfig = field(default_factory=CoarseConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CascadeConfig":
        """Inverse of ``to_dict`` (tuples restored)."""
        def net(x: dict) -> NetConfig:
            return NetConfig(**x)

        def tup(x):
            return tuple(x)

        p1 = dict(d["phase1"])
        p1.update(shape=tup(p1["shape"]), net=net(p1["net"]))
        locs = []
        for key in ("phase2", "phase3"):
            p = dict(d[key])
            p.update(size=tup(p["size"]), spacing=tup(p["spacing"]), net=net(p["net"]))
            locs.append(LocalPhaseConfig(**p))
        coarse = dict(d.get("coarse") or {})  # bundles written before the atlas option: the network
        if "scales" in coarse:
            coarse["scales"] = tup(coarse["scales"])
        return cls(preset=d["preset"], phase1=GlobalPhaseConfig(**p1), phase2=locs[0], phase3=locs[1],
                   coarse=CoarseConfig(**coarse))


def preset(name: str = "fast") -> CascadeConfig:
    """The named preset (``fast`` or ``paper``)."""
    if name == "fast":
        return CascadeConfig()
    if name == "paper":
        resnet50 = NetConfig(depth=50, width=1.0, loss="mse", learning_rate=1e-4, batch_size=4, epochs=100, patience=0,
                             norm="batch")
        px = 500.0 / 512.0  # the paper's pixel size
        return CascadeConfig(
            preset="paper",
            phase1=GlobalPhaseConfig(shape=(81, 96, 96), net=resnet50),
            phase2=LocalPhaseConfig(size=(81, 100, 100), spacing=(2.0, px, px), intensity="bone",
                                    shift_mm=30.0, shared=False, net=resnet50),
            phase3=LocalPhaseConfig(size=(81, 50, 50), spacing=(2.0, px, px), intensity="bone",
                                    shift_mm=12.0, shared=False, net=resnet50),
        )
    raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")


def with_intensity(config: CascadeConfig, mode: str) -> CascadeConfig:
    """``config`` with every phase preprocessed by intensity ``mode`` (``intensity`` for MRI)."""
    from cascade.intensity import MODES

    if mode not in MODES:
        raise ValueError(f"unknown intensity mode {mode!r}; choose one of {', '.join(MODES)}")
    return replace(config, phase1=replace(config.phase1, intensity=mode),
                   phase2=replace(config.phase2, intensity=mode), phase3=replace(config.phase3, intensity=mode))


def tiny(config: CascadeConfig | None = None) -> CascadeConfig:
    """A very small variant of a config for tests and smoke runs (minutes on a CPU)."""
    c = config or CascadeConfig()
    small = replace(c.phase1.net, depth=18, width=0.125, batch_size=4, epochs=3, patience=0)
    return replace(
        c, preset=c.preset + "-tiny",
        phase1=replace(c.phase1, shape=(32, 32, 32), net=small),
        phase2=replace(c.phase2, size=(16, 24, 24), spacing=(4.0, 3.0, 3.0), crops_per_case=8, net=small),
        phase3=replace(c.phase3, size=(16, 20, 20), spacing=(2.0, 1.5, 1.5), crops_per_case=8, net=small),
    )
