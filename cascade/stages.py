"""The stages of the cascade, defined once: what a stage's network sees, what it learns, and how its
output becomes LPS millimetres. Training (``phases.trainer``), prediction (``cascade.predict``) and
the bundle (``cascade.bundle``) all go through these.

* ``GlobalStage`` (phase 1): the whole scan, normalised and squeezed onto a fixed grid
  (``cascade.global_grid``); target: every landmark's normalised grid position (NaN = absent);
  one model for all landmarks.
* ``LocalStage`` (phases 2 and 3): a crop of fixed voxel count and size in mm around the previous
  estimate (``cascade.crops``); target: the landmark's normalised position in the crop; training
  crops are centred at random shifts around the truth; one shared model (landmark identity as a
  second input) or one model per landmark.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, Union

import numpy as np

from cascade.case import Case
from cascade.config import CascadeConfig, GlobalPhaseConfig, LocalPhaseConfig
from cascade.crops import CropSpec
from cascade.global_grid import GlobalGrid

Draw = Callable[[np.random.Generator, int], tuple]  # (rng, batch size) -> (inputs, targets)


@dataclass(frozen=True)
class GlobalStage:
    """Phase 1: one input per scan, all landmarks regressed at once."""

    phase: int
    cfg: GlobalPhaseConfig

    shared = True  # one model for all landmarks

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.cfg.shape) + (1,)

    def n_outputs(self, n_landmarks: int) -> int:
        return 3 * n_landmarks

    def identity_classes(self, n_landmarks: int) -> int | None:
        return None

    def inputs(self, case: Case) -> tuple[np.ndarray, GlobalGrid]:
        """Network input (D, H, W, 1) and the grid that decodes its output."""
        return case.global_input(self.cfg)

    def target(self, case: Case, grid: GlobalGrid) -> np.ndarray:
        """(N*3,) normalised grid positions, NaN for absent landmarks."""
        y = grid.lps_to_normalised(case.landmarks.coords)
        y[~case.landmarks.present] = np.nan
        return y.reshape(-1).astype(np.float32)

    def decode(self, output: np.ndarray, grid: GlobalGrid) -> np.ndarray:
        """Network output (N*3,) -> (N, 3) LPS mm."""
        return grid.normalised_to_lps(np.asarray(output, float).reshape(-1, 3))

    def sample(self, case: Case) -> tuple[np.ndarray, np.ndarray, GlobalGrid]:
        """(input, target, grid) of one training case."""
        x, grid = self.inputs(case)
        return x, self.target(case, grid), grid

    def training_batches(self, cases: Sequence[Case], landmark: int | None = None) -> tuple[Draw, int]:
        """``draw(rng, size)`` of random batches (inputs held in memory) and the samples per epoch."""
        x, y = self._all(cases)

        def draw(rng, size):
            pick = rng.integers(len(x), size=size)
            return x[pick], y[pick]

        return draw, len(cases)

    def _all(self, cases: Sequence[Case]) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = zip(*[self.sample(c)[:2] for c in cases])
        return np.stack(xs), np.stack(ys)

    def validation(self, cases: Sequence[Case], landmark: int | None, seed: int):
        """All validation inputs and targets (None without cases)."""
        return self._all(cases) if cases else None

    def predict(self, forwards: Sequence[Callable], case: Case, previous: np.ndarray | None = None) -> np.ndarray:
        """(N, 3) LPS mm estimates of one scan (``previous`` unused: phase 1 starts the cascade)."""
        x, grid = self.inputs(case)
        return self.decode(np.asarray(forwards[0](x[None]), float)[0], grid)


@dataclass(frozen=True)
class LocalStage:
    """Phases 2 and 3: a crop around the previous estimate of each landmark."""

    phase: int
    cfg: LocalPhaseConfig

    VAL_CROPS_MAX = 256

    @property
    def shared(self) -> bool:
        return self.cfg.shared

    @property
    def spec(self) -> CropSpec:
        return CropSpec(self.cfg.size, self.cfg.spacing)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.cfg.size) + (1,)

    def n_outputs(self, n_landmarks: int) -> int:
        return 3

    def identity_classes(self, n_landmarks: int) -> int | None:
        return n_landmarks if self.cfg.shared else None

    def inputs(self, case: Case, centre_lps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised crop (D, H, W, 1) centred on ``centre_lps`` and the crop's affine."""
        return case.crop(self.cfg, centre_lps)

    def target(self, affine: np.ndarray, truth_lps: np.ndarray) -> np.ndarray:
        """(3,) normalised position of the landmark in the crop (-0.5..0.5 inside)."""
        return self.spec.lps_to_target(affine, truth_lps).astype(np.float32)

    def decode(self, output: np.ndarray, affine: np.ndarray) -> np.ndarray:
        """Network output (3,) -> (3,) LPS mm."""
        return self.spec.target_to_lps(affine, output)

    def sampler(self, cases: Sequence[Case], landmark: int | None = None) -> "CropSampler":
        return CropSampler(list(cases), self, landmark)

    def _model_inputs(self, x: dict[str, np.ndarray]):
        return x if self.cfg.shared else x["image"]

    def training_batches(self, cases: Sequence[Case], landmark: int | None = None) -> tuple[Draw, int]:
        """``draw(rng, size)`` of random shifted crops and the samples per epoch (crops per case)."""
        sampler = self.sampler(cases, None if self.cfg.shared else landmark)

        def draw(rng, size):
            xb, yb = sampler.batch(rng, size)
            return self._model_inputs(xb), yb

        return draw, len(cases) * self.cfg.crops_per_case

    def validation(self, cases: Sequence[Case], landmark: int | None, seed: int):
        """A fixed set of shifted validation crops (None without cases)."""
        if not cases:
            return None
        sampler = self.sampler(cases, None if self.cfg.shared else landmark)
        x, y = sampler.batch(np.random.default_rng([seed, 10**6]), min(self.VAL_CROPS_MAX, 4 * len(sampler.pairs)))
        return self._model_inputs(x), y

    def predict(self, forwards: Sequence[Callable], case: Case, previous: np.ndarray,
                landmarks: Sequence[int] | None = None, n_landmarks: int | None = None) -> np.ndarray:
        """(M, 3) LPS mm estimates from crops around ``previous`` (M, 3); all crops in one batch
        for a shared model, one per model otherwise.

        ``landmarks`` (M,): the landmark index of each crop (default ``0..M-1``: one crop per
        landmark), so several crops of one landmark (test-time shifts) go through in one call;
        ``n_landmarks``: the set's size (default M)."""
        crops, affines = zip(*[self.inputs(case, c) for c in previous])
        x = np.stack(crops)
        ids = np.arange(len(previous)) if landmarks is None else np.asarray(landmarks, int)
        if self.cfg.shared:
            onehot = np.eye(n_landmarks or len(previous), dtype=np.float32)[ids]
            y = np.asarray(forwards[0]({"image": x, "landmark": onehot}), float)
        else:  # one model per landmark: each gets its own crops in one call
            y = np.empty((len(ids), 3))
            for n in dict.fromkeys(ids.tolist()):
                y[ids == n] = np.asarray(forwards[n](x[ids == n]), float)
        return np.stack([self.decode(t, a) for a, t in zip(affines, y)])


Stage = Union[GlobalStage, LocalStage]


def stage(config: CascadeConfig, phase: int) -> Stage:
    """The stage of ``phase`` (1: global, 2 and 3: local) as ``config`` describes it."""
    if phase == 1:
        return GlobalStage(1, config.phase1)
    if phase in (2, 3):
        return LocalStage(phase, config.phase2 if phase == 2 else config.phase3)
    raise ValueError(f"no phase {phase}: the cascade has phases 1, 2 and 3")


def stages(config: CascadeConfig) -> list[Stage]:
    """All three stages in order."""
    return [stage(config, p) for p in (1, 2, 3)]


class CropSampler:
    """Random shifted crops around the true landmarks of cached cases."""

    def __init__(self, cases: list[Case], local: LocalStage, landmark: int | None = None) -> None:
        """``landmark``: restrict to one landmark index (per-landmark models), else all present ones."""
        self.stage = local
        self.cfg = local.cfg
        self.cases = cases
        self.pairs = [(c, n) for c, case in enumerate(cases) for n in range(len(case.landmarks))
                      if case.landmarks.present[n] and (landmark is None or n == landmark)]
        if not self.pairs:
            raise ValueError("no present landmarks to sample crops from")
        self.n_landmarks = len(cases[0].landmarks)

    def batch(self, rng: np.random.Generator, size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """A random batch: inputs ``{"image", "landmark"}`` (one-hot id) and targets (size, 3)."""
        picks = rng.integers(len(self.pairs), size=size)
        images, ids, targets = [], [], []
        for p in picks:
            c, n = self.pairs[p]
            case = self.cases[c]
            shift = rng.uniform(-self.cfg.shift_mm, self.cfg.shift_mm, 3)
            truth = case.landmarks.coords[n]
            x, aff = self.stage.inputs(case, truth + case.volume.directions @ shift)
            images.append(x)
            ids.append(n)
            targets.append(self.stage.target(aff, truth))
        onehot = np.eye(self.n_landmarks, dtype=np.float32)[ids]
        return {"image": np.stack(images), "landmark": onehot}, np.stack(targets)
