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
from dataclasses import asdict, dataclass, field, fields, replace
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
    base_filters: int = 64  # stage-1 inner filters at width 1 (also the stem's)
    l2: float = 1e-4  # L2 weight decay on conv / dense / FiLM kernels
    identity_dim: int = 64  # width of the landmark-identity embedding (shared local models)


# local phases see 36 new crops per case per epoch: fewer epochs (a 2-core CPU trains all three
# phases on 90 cases in about an hour)
LOCAL_NET = NetConfig(epochs=20, patience=5)


@dataclass(frozen=True)
class GlobalPhaseConfig:
    """Phase 1: whole scan, binarised, shrunk onto ``shape``."""

    shape: tuple[int, int, int] = (81, 96, 96)
    intensity: str = "bone"
    bone_threshold_hu: float = 300.0
    window_hu: tuple[float, float] = (-1000.0, 2000.0)  # "window" mode: HU clipped to this, / 1000
    net: NetConfig = field(default_factory=NetConfig)


@dataclass(frozen=True)
class LocalPhaseConfig:
    """Phase 2 or 3: crops of ``size`` voxels of ``spacing`` mm around the previous estimate."""

    size: tuple[int, int, int] = (32, 64, 64)
    spacing: tuple[float, float, float] = (2.0, 1.25, 1.25)
    intensity: str = "window"
    bone_threshold_hu: float = 300.0
    window_hu: tuple[float, float] = (-1000.0, 2000.0)  # "window" mode: HU clipped to this, / 1000
    shift_mm: float = 20.0  # training crops: centre = truth + uniform shift within +-shift_mm per axis
    crops_per_case: int = 36  # paper: 36 shifted crops per case
    shared: bool = True  # one model for all landmarks (landmark identity input) vs one per landmark
    net: NetConfig = field(default_factory=NetConfig)


@dataclass(frozen=True)
class PreprocessConfig:
    """How a scan becomes a ``cascade.case.Case`` (the working volume every stage reads)."""

    percentiles: tuple[float, float] = (1.0, 99.0)  # "intensity" mode: foreground range of a scan
    resample_below: float = 0.75  # an axis finer than this x the finest crop spacing is resampled to it


COARSE_METHODS = ("network", "atlas")


@dataclass(frozen=True)
class CoarseConfig:
    """How the first estimate is made: the phase-1 ``network``, or ``atlas`` registration of the
    bundle's reduced labelled heads (``cascade.coarse.atlas``; ``mode`` "affine", "bspline" or "search")."""

    method: str = "network"
    mode: str = "affine"
    spacing: float = 2.0
    search_mm: float = 4.0
    scales: tuple[float, ...] = (0.88, 0.94, 1.0, 1.06, 1.12)
    margin_mm: float = 20.0


# Where phase 3 starts: from phase 2's estimate (the paper's cascade), or "steadier": from phase 2's
# and from the coarse estimate, keeping per landmark the answer whose shifted reruns agree best
PHASE3_STARTS = ("phase2", "steadier")


@dataclass(frozen=True)
class CascadeConfig:
    """All three phases plus the preset name and the coarse-stage method."""

    preset: str = "fast"
    phase1: GlobalPhaseConfig = field(default_factory=GlobalPhaseConfig)
    phase2: LocalPhaseConfig = field(default_factory=lambda: LocalPhaseConfig(net=LOCAL_NET))
    phase3: LocalPhaseConfig = field(default_factory=lambda: LocalPhaseConfig(
        size=(24, 40, 40), spacing=(1.0, 0.6, 0.6), shift_mm=6.0, net=LOCAL_NET))
    coarse: CoarseConfig = field(default_factory=CoarseConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    phase3_starts: str = "phase2"  # PHASE3_STARTS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict[str, Any], legacy: dict[str, Any] | None = None) -> "CascadeConfig":
        """Inverse of ``to_dict`` (tuples restored). Every setting must be there: a missing or
        unknown key is a ``ValueError`` naming it, except keys in ``legacy`` (the values an older
        bundle version used without saving them), which fill in what such a bundle lacks."""
        legacy = legacy or {}

        def build(klass, x: dict, where: str, fill: dict | None = None, **nested):
            x = {**(fill or {}), **dict(x)}
            names = {f.name for f in fields(klass)}
            unknown = sorted(set(x) - names)
            missing = sorted(names - set(x) - set(nested))
            if unknown or missing:
                raise ValueError(f"{where}: " + "; ".join(
                    ([f"unknown setting(s) {', '.join(unknown)}"] if unknown else [])
                    + ([f"missing setting(s) {', '.join(missing)}"] if missing else [])))
            for f in fields(klass):
                if isinstance(x.get(f.name), list):
                    x[f.name] = tuple(x[f.name])
            return klass(**{**x, **nested})

        def phase(klass, key: str):
            p = dict(d[key])
            net = build(NetConfig, p.pop("net"), f"{key}.net", legacy.get("net"))
            return build(klass, p, key, legacy.get("phase"), net=net)

        for key in ("preset", "phase1", "phase2", "phase3", "phase3_starts"):
            if key not in d and key not in legacy:
                raise ValueError(f"missing setting {key}")
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown setting(s) {', '.join(unknown)}")
        starts = d.get("phase3_starts", legacy.get("phase3_starts"))
        if starts not in PHASE3_STARTS:
            raise ValueError(f"phase3_starts {starts!r}: not one of {', '.join(PHASE3_STARTS)}")
        return cls(preset=d["preset"], phase1=phase(GlobalPhaseConfig, "phase1"),
                   phase2=phase(LocalPhaseConfig, "phase2"), phase3=phase(LocalPhaseConfig, "phase3"),
                   coarse=build(CoarseConfig, d.get("coarse", {}), "coarse", legacy.get("coarse")),
                   preprocess=build(PreprocessConfig, d.get("preprocess", {}), "preprocess", legacy.get("preprocess")),
                   phase3_starts=starts)


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
