"""Run a trained cascade on a scan: phase 1 on the whole scan, then phases 2 and 3 on crops.

    cascade = Cascade.load("models/demo")
    pred = cascade.predict(load_volume("scan_dir"))
    pred.final            # (N, 3) LPS mm after phase 3
    pred.estimates        # (3, N, 3): after phase 1, 2 and 3
    pred.inside           # (N,) whether the final estimate lies inside the scanned volume

All 16 (N) crops of a local phase go through the network as one batch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from cascade.bundle import Bundle
from cascade.crops import CropSpec
from cascade.samples import Case, finest_spacing
from data.errors import InputError
from data.landmarks import LandmarkSet
from data.volume import Volume


@dataclass
class Prediction:
    """Landmark estimates of every phase, in LPS mm, for one scan."""

    names: list[str]
    estimates: np.ndarray  # (phases, N, 3)
    inside: np.ndarray  # (N,)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def final(self) -> np.ndarray:
        return self.estimates[-1]

    def landmark_set(self, volume: Volume) -> LandmarkSet:
        """Final estimates as a LandmarkSet; extra columns: voxel k/i/j, each phase's estimate, inside flag.

        ``present`` is True for every estimate inside the scan; estimates outside are kept (not
        clipped) with present False and ``inside`` = no.
        """
        idx = volume.lps_to_index(self.final)
        extra: dict[str, list] = {"k": list(idx[:, 0]), "i": list(idx[:, 1]), "j": list(idx[:, 2])}
        for p, est in enumerate(self.estimates, 1):
            for a, axis in enumerate("xyz"):
                extra[f"phase{p}_{axis}"] = list(est[:, a])
        extra["inside"] = ["yes" if v else "no" for v in self.inside]
        return LandmarkSet(self.names, self.final.copy(), self.inside.copy(), extra=extra)


class Cascade:
    """The trained models of a bundle, loaded once, applied to any number of scans."""

    def __init__(self, bundle: Bundle, coarse: str | None = None) -> None:
        """``coarse``: "network" or "atlas" to override the bundle's coarse-stage method."""
        import tensorflow as tf

        self.bundle = bundle
        self.coarse = coarse or bundle.config.coarse.method
        self.prior = None
        self.last_prior: dict | None = None  # the atlas stage's details for the last scan (per-atlas estimates)
        if self.coarse == "atlas":
            from cascade.atlas import AtlasPrior

            self.prior = AtlasPrior(bundle.load_atlases(), bundle.names, bundle.config.coarse)
        self.models = {1: [bundle.load_model(1)]} if self.coarse == "network" else {}
        for phase in (2, 3):
            if bundle.shared(phase):
                self.models[phase] = [bundle.load_model(phase)]
            else:
                self.models[phase] = [bundle.load_model(phase, n) for n in range(len(bundle.names))]
        # graph-compiled forward passes (traced once per input shape; no XLA, slower on CPUs)
        self.forward = {p: [tf.function(lambda x, m=m: m(x, training=False)) for m in ms]
                        for p, ms in self.models.items()}

    @classmethod
    def load(cls, path, coarse: str | None = None) -> "Cascade":
        return cls(Bundle.open(path), coarse)

    def _phase1(self, case: Case, volume: Volume) -> np.ndarray:
        if self.prior is not None:
            est, self.last_prior = self.prior.estimate(volume)
            if np.isnan(est).any():
                raise InputError(volume.meta.get("source", "scan"), "the atlas coarse stage placed no estimate")
            return est
        x, grid = case.global_input(self.bundle.config.phase1)
        y = np.asarray(self.forward[1][0](x[None]), float)
        return grid.normalised_to_lps(y.reshape(-1, 3))

    def _local(self, case: Case, phase: int, centres: np.ndarray) -> np.ndarray:
        cfg = self.bundle.phase_config(phase)
        spec = CropSpec(cfg.size, cfg.spacing)
        crops, affines = zip(*[case.crop(cfg, c) for c in centres])
        x = np.stack(crops)
        n = len(centres)
        if cfg.shared:
            y = np.asarray(self.forward[phase][0]({"image": x, "landmark": np.eye(n, dtype=np.float32)}), float)
        else:
            y = np.concatenate([np.asarray(f(x[i:i + 1]), float) for i, f in enumerate(self.forward[phase])])
        return np.stack([spec.target_to_lps(a, t) for a, t in zip(affines, y)])

    def predict(self, volume: Volume) -> Prediction:
        """Estimates of all landmarks after each phase for one scan."""
        t0 = time.perf_counter()
        case = Case.make("scan", volume, None, self.bundle.names, finest_spacing(self.bundle.config), np.float32)
        seconds = {}
        est = [self._phase1(case, volume)]
        seconds["phase1"] = time.perf_counter() - t0
        for phase in (2, 3):
            t = time.perf_counter()
            est.append(self._local(case, phase, est[-1]))
            seconds[f"phase{phase}"] = time.perf_counter() - t
        estimates = np.stack(est)
        return Prediction(list(self.bundle.names), estimates, volume.contains(estimates[-1]), seconds)
