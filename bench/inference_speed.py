"""Inference speed and memory of the cascade: DICOM read + phases 1-3, per preset.

    python bench/inference_speed.py [--size 256] [--presets fast paper] [--repeats 3] [--resident]

Writes a synthetic head CT as DICOM, builds a bundle of each preset with random weights (timing
does not depend on training; each per-landmark model its own), then in a fresh process per
preset: loads the bundle (timed), reads the scan, runs the cascade once (warm-up: graph tracing)
and ``--repeats`` more times, and prints the load seconds, the median seconds of read and of each
phase, the ratio to the read time, and the peak resident memory. Per-landmark models (``paper``)
are streamed (``cascade.networks.streamed``); ``--resident`` also runs them all resident, as
before streaming, and prints the largest difference of the two runs' estimates (mm).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fresh_process import run_worker  # noqa: E402


def build_random_bundle(path: Path, preset_name: str, names: list[str]) -> None:
    """A bundle of ``preset_name`` whose models have random (initial) weights."""
    from cascade.bundle import Bundle
    from cascade.config import preset
    from phases.trainer import build_phase_model, save_for_inference

    import keras

    bundle = Bundle.create(path, preset(preset_name), names, note="random weights, for timing only")
    for phase in (1, 2, 3):
        for n in [None] if bundle.shared(phase) else range(len(names)):
            keras.utils.set_random_seed(100 * phase + (n or 0))  # each model its own weights
            save_for_inference(build_phase_model(bundle, phase), bundle.model_path(phase, n))
            keras.backend.clear_session()


def measure(scan: Path, bundle: Path, repeats: int, resident: bool) -> dict:
    """Run in a fresh process: load, read + predict timings, peak memory and the estimates."""
    import numpy as np

    from cascade.predict import Cascade
    from data.load import load_volume

    t = time.perf_counter()
    cascade = Cascade.load(bundle, resident=resident)
    load_s = time.perf_counter() - t
    reads, phases = [], []
    vol = load_volume(scan)
    cascade.predict(vol)  # warm-up
    for _ in range(repeats):
        t = time.perf_counter()
        vol = load_volume(scan)
        reads.append(time.perf_counter() - t)
        pred = cascade.predict(vol)
        phases.append(pred.seconds)
    med = {k: float(np.median([p[k] for p in phases])) for k in phases[0]}
    return {"load_s": load_s, "read_s": float(np.median(reads)), **{f"{k}_s": v for k, v in med.items()},
            "cascade_s": sum(med.values()), "shape": list(vol.shape), "estimates": pred.estimates.tolist(),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256, help="image matrix of the synthetic scan")
    ap.add_argument("--presets", nargs="+", default=["fast", "paper"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--resident", action="store_true",
                    help="also run per-landmark models all resident (the memory they took before streaming)")
    ap.add_argument("--worker", nargs=2, metavar=("SCAN", "BUNDLE"), help=argparse.SUPPRESS)
    ap.add_argument("--worker-resident", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(measure(Path(args.worker[0]), Path(args.worker[1]), args.repeats, args.worker_resident)))
        return 0
    import numpy as np

    from cascade.bundle import Bundle
    from data.phantom import write_case

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        row = write_case(tmp / "case", 0, size=args.size, case_id="bench")
        scan = tmp / row["dicom_dir"]
        from data.landmark_io import read_landmarks

        names = read_landmarks(tmp / row["landmarks"]).names
        print(f"# {os.cpu_count()} CPU cores; scan {args.size}x{args.size}, {row['slices']} slices; "
              f"median of {args.repeats} after one warm-up; fresh process per preset")
        print(f"{'preset':<16}{'load s':>8}{'read s':>8}{'phase1':>8}{'phase2':>8}{'phase3':>8}{'cascade':>9}"
              f"{'x read':>8}{'peak MB':>9}")
        for name in args.presets:
            build_random_bundle(tmp / name, name, names)
            per_landmark = any(not Bundle.open(tmp / name).shared(p) for p in (2, 3))
            runs = {}
            for resident in (False, True) if per_landmark and args.resident else (False,):
                label = name + (" resident" if resident else " streamed" if per_landmark else "")
                r = run_worker(__file__, ["--repeats", str(args.repeats), "--worker", str(scan), str(tmp / name)]
                               + (["--worker-resident"] if resident else []))
                runs[resident] = np.asarray(r["estimates"])
                print(f"{label:<16}{r['load_s']:8.1f}{r['read_s']:8.2f}{r['phase1_s']:8.2f}{r['phase2_s']:8.2f}"
                      f"{r['phase3_s']:8.2f}{r['cascade_s']:9.2f}{r['cascade_s'] / r['read_s']:8.1f}"
                      f"{r['peak_rss_mb']:9.0f}", flush=True)
            if len(runs) == 2:
                print(f"{name}: streamed vs resident estimates differ by at most "
                      f"{np.abs(runs[False] - runs[True]).max():.2e} mm")
            shutil.rmtree(tmp / name)  # the paper bundle is 6 GB
    return 0


if __name__ == "__main__":
    sys.exit(main())
