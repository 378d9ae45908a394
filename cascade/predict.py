"""Run a trained cascade on a scan: phase 1 on the whole scan, then phases 2 and 3 on crops.

    cascade = Cascade.load("cascade/models/demo")
    pred = cascade.predict(load_volume("scan_dir"))
    pred.final            # (N, 3) LPS mm after phase 3
    pred.estimates        # (3, N, 3): after phase 1, 2 and 3
    pred.inside           # (N,) whether the final estimate lies inside the scanned volume

Each phase's input and decoding is its stage's (``cascade.stages``); all 16 (N) crops of a
shared local phase go through the network as one batch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from cascade.bundle import Bundle
from cascade.case import Case
from cascade.schema import prediction_columns
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
        extra = prediction_columns(self.estimates, self.inside, volume.lps_to_index(self.final))
        return LandmarkSet(self.names, self.final.copy(), self.inside.copy(), extra=extra)


class Cascade:
    """The trained models of a bundle, loaded once, applied to any number of scans."""

    def __init__(self, bundle: Bundle, coarse: str | None = None) -> None:
        """``coarse``: "network" or "atlas" to override the bundle's coarse-stage method."""
        from cascade.tf_runtime import import_tensorflow

        tf = import_tensorflow()
        self.bundle = bundle
        self.coarse = coarse or bundle.config.coarse.method
        self.prior = None
        self.last_prior: dict | None = None  # the atlas stage's details for the last scan (per-atlas estimates)
        if self.coarse == "atlas":
            from cascade.coarse.atlas import AtlasPrior

            self.prior = AtlasPrior(bundle.load_atlases(), bundle.names, bundle.config.coarse)
        self.stages = {p: bundle.stage(p) for p in ((1, 2, 3) if self.coarse == "network" else (2, 3))}
        self.models = {p: [bundle.load_model(p)] if s.shared else [bundle.load_model(p, n) for n in range(len(bundle.names))]
                       for p, s in self.stages.items()}
        # graph-compiled forward passes (traced once per input shape; no XLA, slower on CPUs)
        self.forward = {p: [tf.function(lambda x, m=m: m(x, training=False)) for m in ms]
                        for p, ms in self.models.items()}

    @classmethod
    def load(cls, path, coarse: str | None = None) -> "Cascade":
        return cls(Bundle.open(path), coarse)

    def _coarse(self, case: Case, volume: Volume) -> np.ndarray:
        if self.prior is not None:
            est, self.last_prior = self.prior.estimate(volume)
            if np.isnan(est).any():
                raise InputError(volume.meta.get("source", "scan"), "the atlas coarse stage placed no estimate")
            return est
        return self.run_stage(1, case)

    def case(self, volume: Volume) -> Case:
        """``volume`` as the bundle's stages read it (working volume, intensity range)."""
        return Case.for_cascade(self.bundle.config, "scan", volume, None, self.bundle.names, np.float32)

    def run_stage(self, phase: int, case: Case, previous: np.ndarray | None = None) -> np.ndarray:
        """(N, 3) LPS mm estimates of ``phase`` on ``case``: phase 1 (network coarse stage) from the
        scan, phases 2 and 3 from crops around ``previous`` (N, 3)."""
        return self.stages[phase].predict(self.forward[phase], case, previous)

    def predict(self, volume: Volume) -> Prediction:
        """Estimates of all landmarks after each phase for one scan."""
        t0 = time.perf_counter()
        case = self.case(volume)
        seconds = {}
        est = [self._coarse(case, volume)]
        seconds["phase1"] = time.perf_counter() - t0
        for phase in (2, 3):
            t = time.perf_counter()
            est.append(self.run_stage(phase, case, est[-1]))
            seconds[f"phase{phase}"] = time.perf_counter() - t
        estimates = np.stack(est)
        return Prediction(list(self.bundle.names), estimates, volume.contains(estimates[-1]), seconds)
