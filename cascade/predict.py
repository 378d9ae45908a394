"""Run a trained cascade on a scan: phase 1 on the whole scan, then phases 2 and 3 on crops.

    cascade = Cascade.load("cascade/models/demo")
    pred = cascade.predict(load_volume("scan_dir"))
    pred.final            # (N, 3) LPS mm after phase 3
    pred.estimates        # (3, N, 3): after phase 1, 2 and 3
    pred.inside           # (N,) whether the final estimate lies inside the scanned volume
    pred.bone_mm          # (N,) CT: distance to the nearest bone (cascade.bone_distance), else None
    pred.confidence       # per-landmark uncertainty (mm) and its parts (cascade.confidence)
    lm = pred.landmark_set(vol)   # the prediction file's landmark set (cascade.schema)

Each phase's input and decoding is its stage's (``cascade.stages``); all 16 (N) crops of a
shared local phase go through the network as one batch.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from cascade.bone_distance import FAR_MM, bone_distances, bone_hu, checks_bone, far_note
from cascade.bundle import Bundle
from cascade.case import Case
from cascade.config import PHASE3_STARTS
from cascade.confidence import (Calibration, Confidence, atlas_spread, reference_shapes, rms_spread, shape_spread,
                                start_offsets)
from cascade.schema import ABSENT, COORD_DECIMALS, FAR_FROM_BONE, OK, OUTSIDE_SCAN, UNCERTAIN, prediction_columns
from data.errors import InputError
from data.landmarks import LandmarkSet
from data.volume import Volume


_EDGES = ("slice", "row", "column")  # index axes k, i, j
_SIDES = (("right of", "left of"), ("in front of", "behind"), ("below", "above"))  # -/+ L, P, S


def outside_note(volume: Volume, point: np.ndarray) -> str:
    """Where an LPS point lies beyond the scanned volume, e.g. ``"1.5 mm below the first slice"``
    (per index axis it leaves by; distances in mm from the outer voxel edge)."""
    idx = volume.lps_to_index(np.asarray(point, float))
    parts = []
    for a, edge in enumerate(_EDGES):
        lo, hi = -0.5, volume.shape[a] - 0.5
        if lo <= idx[a] <= hi:
            continue
        last = idx[a] > hi
        beyond_mm = (idx[a] - hi if last else lo - idx[a]) * volume.spacing[a]
        step = volume.directions[:, a] * (1 if last else -1)  # LPS direction of leaving the scan
        axis = int(np.argmax(np.abs(step)))
        side = _SIDES[axis][int(step[axis] > 0)]
        parts.append(f"{beyond_mm:.1f} mm {side} the {'last' if last else 'first'} {edge}")
    return ", ".join(parts) or "outside the scanned volume"


def point_states(volume: Volume, points: np.ndarray, inside: np.ndarray,
                 bone_mm: np.ndarray | None = None, far_mm: float = FAR_MM,
                 confidence: Confidence | None = None) -> tuple[list[str], list[str]]:
    """``state`` and ``note`` of each final estimate (``cascade.schema.STATES``): ``absent``
    without coordinates, ``outside_scan`` when not ``inside``, ``far_from_bone`` when
    ``bone_mm`` (N,) exceeds ``far_mm``, ``uncertain`` when ``confidence`` flags it for review,
    else ``ok`` (note ''). The first that applies wins."""
    review = confidence.review if confidence is not None else np.zeros(len(inside), bool)
    reasons = confidence.reasons() if confidence is not None else [""] * len(inside)
    states, notes = [], []
    for n, p in enumerate(np.asarray(points, float).reshape(-1, 3)):
        if not np.all(np.isfinite(p)):
            states.append(ABSENT), notes.append("no estimate")
        elif not inside[n]:
            states.append(OUTSIDE_SCAN), notes.append(outside_note(volume, p))
        elif bone_mm is not None and bone_mm[n] > far_mm:
            states.append(FAR_FROM_BONE), notes.append(far_note(float(bone_mm[n]), far_mm))
        elif review[n]:
            states.append(UNCERTAIN), notes.append(reasons[n])
        else:
            states.append(OK), notes.append("")
    return states, notes


@dataclass
class Prediction:
    """Landmark estimates of every phase, in LPS mm, for one scan.

    ``bone_mm`` (N,): distance of each final estimate to the nearest bone on a CT
    (``cascade.bone_distance``; ``inf`` when none is near), None where not checked (MRI)."""

    names: list[str]
    estimates: np.ndarray  # (phases, N, 3)
    inside: np.ndarray  # (N,)
    seconds: dict[str, float] = field(default_factory=dict)
    bone_mm: np.ndarray | None = None  # (N,)
    confidence: Confidence | None = None
    tta_mean: np.ndarray | None = None  # (N, 3) mean of the last phase's test-time answers

    @property
    def final(self) -> np.ndarray:
        return self.estimates[-1]

    def states(self, volume: Volume) -> tuple[list[str], list[str]]:
        """``state`` and ``note`` of each final estimate (:func:`point_states`)."""
        return point_states(volume, self.final, self.inside, self.bone_mm, confidence=self.confidence)

    def landmark_set(self, volume: Volume) -> LandmarkSet:
        """Final estimates as a LandmarkSet with the prediction file's extra columns (``cascade.schema``):
        voxel k/i/j, each phase's estimate, ``inside``, ``state``, ``note``, ``review`` and
        ``uncertainty_mm`` (when measured).

        Every estimate is a point (``present`` True; False only without coordinates): one outside
        the scan is kept where the model put it, never clipped, with ``inside`` = no and state
        ``outside_scan``. Coordinates are rounded to ``COORD_DECIMALS`` decimals.
        """
        final = np.asarray(self.final, float)
        states, notes = self.states(volume)
        unc = self.confidence.uncertainty_mm if self.confidence is not None else None
        extra = prediction_columns(self.estimates, self.inside, volume.lps_to_index(final), states, notes, unc)
        present = np.all(np.isfinite(final), axis=1)
        return LandmarkSet(self.names, final.copy(), present, extra=extra).rounded(COORD_DECIMALS)


class Cascade:
    """The trained models of a bundle, loaded once, applied to any number of scans."""

    def __init__(self, bundle: Bundle, coarse: str | None = None, calibration: Calibration | None = None,
                 resident: bool = False, threads: int | None = None, starts: str | None = None) -> None:
        """``coarse``: "network" or "atlas" to override the bundle's coarse-stage method;
        ``calibration``: of the uncertainty (default: the bundle's, else ``Calibration()``);
        ``resident``: keep every per-landmark model in memory (``paper`` preset: 8 GB, for a
        machine that has it) instead of streaming their weights (``cascade.networks.streamed``);
        ``threads``: atlases registered at once by an atlas coarse stage (default: one per core;
        a worker process sharing the machine gets its share); ``starts``: where phase 3 starts
        (``cascade.config.PHASE3_STARTS``; default: the bundle's setting)."""
        from cascade.tf_runtime import import_tensorflow

        tf = import_tensorflow()
        self.bundle = bundle
        self.coarse = coarse or bundle.config.coarse.method
        self.starts = starts or bundle.config.phase3_starts
        if self.starts not in PHASE3_STARTS:
            raise ValueError(f"phase-3 starts {self.starts!r}; choose one of {', '.join(PHASE3_STARTS)}")
        self.calibration = calibration or bundle.calibration()
        self.prior = None
        self.last_prior: dict | None = None  # the atlas stage's details for the last scan (per-atlas estimates)
        if self.coarse == "atlas":
            from cascade.coarse.atlas import AtlasPrior

            self.prior = AtlasPrior(bundle.load_atlases(), bundle.names, bundle.config.coarse, threads=threads or 0)
        heads = [a.landmarks for a in self.prior.atlases] if self.prior is not None else bundle.atlas_landmarks()
        self.references = reference_shapes(heads, bundle.names)  # the labelled heads' shapes (cascade.confidence)
        self.stages = {p: bundle.stage(p) for p in ((1, 2, 3) if self.coarse == "network" else (2, 3))}
        self.forward = {}  # per phase: graph-compiled forward passes (traced once per input shape; no XLA, slower on CPUs)
        for p, s in self.stages.items():
            if s.shared or resident:
                models = [bundle.load_model(p)] if s.shared else [bundle.load_model(p, n) for n in range(len(bundle.names))]
                self.forward[p] = [tf.function(lambda x, m=m: m(x, training=False)) for m in models]
            else:  # one model per landmark: one resident, the others' weights read in turn
                from cascade.networks.build import load_model
                from cascade.networks.streamed import StreamedModels

                self.forward[p] = StreamedModels(bundle.model_files(p), load_model)
        self._lock = threading.Lock()  # one scan at a time per cascade (streamed weights, last_prior)

    @classmethod
    def load(cls, path, coarse: str | None = None, calibration: Calibration | None = None,
             resident: bool = False, threads: int | None = None, starts: str | None = None) -> "Cascade":
        return cls(Bundle.open(path), coarse, calibration, resident, threads, starts)

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
        """Estimates of all landmarks after each phase for one scan (one scan at a time per cascade:
        threads that share it take turns)."""
        with self._lock:
            return self._predict(volume)

    def _predict(self, volume: Volume) -> Prediction:
        t0 = time.perf_counter()
        case = self.case(volume)
        seconds = {}
        est = [self._coarse(case, volume)]
        seconds["phase1"] = time.perf_counter() - t0
        t = time.perf_counter()
        est.append(self.run_stage(2, case, est[-1]))
        seconds["phase2"] = time.perf_counter() - t
        t = time.perf_counter()
        # "steadier": also from the coarse estimate, per landmark the steadier answer
        starts = np.stack([est[-1], est[0]] if self.starts == "steadier" else [est[-1]])
        final, shifted, start = self.steadier_last_phase(case, starts)
        est.append(final)
        seconds["phase3"] = time.perf_counter() - t
        t = time.perf_counter()
        confidence, tta_mean = self.confidence(est, shifted, start)
        seconds["confidence"] = time.perf_counter() - t
        estimates = np.stack(est)
        bone = None
        if checks_bone(self.bundle.config, volume):  # CT-trained bundle on a CT: flag points in the air
            t = time.perf_counter()
            bone = bone_distances(volume, estimates[-1], bone_hu(self.bundle.config))
            seconds["bone_check"] = time.perf_counter() - t
        return Prediction(list(self.bundle.names), estimates, volume.contains(estimates[-1]), seconds, bone,
                          confidence, tta_mean)

    def last_phase(self, case: Case, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Phase 3 from ``previous`` (N, 3), and phase 3 again from shifted starts around it
        (``cascade.confidence.start_offsets``; (S, N, 3)). A shared model takes each as one batch;
        per-landmark models take all crops of their landmark at once, so a streamed model's
        weights are read once per scan (the time of the reruns is then counted in phase 3's)."""
        stage = self.stages[3]
        n = len(previous)
        offsets = start_offsets(case.volume.directions, stage.cfg.shift_mm)
        starts = (previous[None] + offsets[:, None]).reshape(-1, 3)
        ids = np.tile(np.arange(n), len(offsets))
        if stage.shared:
            final = self.run_stage(3, case, previous)
            shifted = stage.predict(self.forward[3], case, starts, ids, n)
        else:
            both = stage.predict(self.forward[3], case, np.concatenate([previous, starts]),
                                 np.concatenate([np.arange(n), ids]), n)
            final, shifted = both[:n], both[n:]
        return final, shifted.reshape(len(offsets), n, 3)

    def steadier_last_phase(self, case: Case, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Phase 3 (with its shifted reruns, :meth:`last_phase`) from each of the (C, N, 3)
        ``candidates`` starts (C = 1: that start's); per landmark, the answers of the start whose
        reruns agree best (smallest RMS spread, ``cascade.confidence.rms_spread``). Returns the final (N, 3), its
        shifted answers (S, N, 3) and the start each landmark's came from (N, 3). (The other
        start's answers are left out of the uncertainty: with them its AUROC on validation fell
        from 0.82 to 0.71, ``bench/RESULTS.md``.)"""
        runs = [self.last_phase(case, c) for c in candidates]
        spreads = np.stack([rms_spread(np.concatenate([f[None], sh])) for f, sh in runs])  # (C, N)
        pick = np.argmin(np.where(np.isfinite(spreads), spreads, np.inf), axis=0)
        lm = np.arange(len(pick))
        final = np.stack([f for f, _ in runs])[pick, lm]
        shifted = np.stack([sh for _, sh in runs])[pick, :, lm].transpose(1, 0, 2)
        return final, shifted, np.asarray(candidates)[pick, lm]

    def confidence(self, est: list[np.ndarray], shifted: np.ndarray,
                   start: np.ndarray | None = None) -> tuple[Confidence, np.ndarray]:
        """Uncertainty from the spread of the last phase's answers (its own and ``shifted`` (S, N, 3),
        from shifted starts), the atlases' disagreement, the shape and the last move (from
        ``start``, default the previous phase's estimate) (``cascade.confidence``); and the mean answer."""
        stage = self.stages[3]
        answers = np.concatenate([est[-1][None], shifted])
        per_atlas = self.last_prior.get("per_atlas") if self.prior is not None and self.last_prior else None
        limit = float(stage.cfg.shift_mm) * np.sqrt(3.0)
        conf = Confidence(rms_spread(answers), atlas_spread(per_atlas, est[0]), shape_spread(est[-1], self.references),
                          np.linalg.norm(est[-1] - (est[-2] if start is None else start), axis=1), limit,
                          self.calibration)
        return conf, answers.mean(0)
