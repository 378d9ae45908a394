"""Inference speed and memory of the cascade: DICOM read + phases 1-3, per preset.

    python bench/inference_speed.py [--size 256] [--presets fast paper] [--repeats 3]

Writes a synthetic head CT as DICOM, builds a bundle of each preset with random weights (timing
does not depend on training), then in a fresh process per preset: reads the scan, runs the
cascade once (warm-up: graph tracing) and ``--repeats`` more times, and prints the median
seconds of read and of each phase, the ratio to the read time, and the peak resident memory.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
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

    bundle = Bundle.create(path, preset(preset_name), names, note="random weights, for timing only")
    for phase in (1, 2, 3):
        model = build_phase_model(bundle, phase)
        landmarks = [None] if bundle.shared(phase) else range(len(names))
        for n in landmarks:
            save_for_inference(model, bundle.model_path(phase, n))


def measure(scan: Path, bundle: Path, repeats: int) -> dict:
    """Run in a fresh process: read + predict timings and peak memory."""
    import numpy as np

    from cascade.predict import Cascade
    from data.load import load_volume

    cascade = Cascade.load(bundle)
    reads, phases = [], []
    vol = load_volume(scan)
    cascade.predict(vol)  # warm-up
    for _ in range(repeats):
        t = time.perf_counter()
        vol = load_volume(scan)
        reads.append(time.perf_counter() - t)
        phases.append(cascade.predict(vol).seconds)
    med = {k: float(np.median([p[k] for p in phases])) for k in phases[0]}
    return {"read_s": float(np.median(reads)), **{f"{k}_s": v for k, v in med.items()},
            "cascade_s": sum(med.values()), "shape": list(vol.shape),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256, help="image matrix of the synthetic scan")
    ap.add_argument("--presets", nargs="+", default=["fast", "paper"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--worker", nargs=2, metavar=("SCAN", "BUNDLE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(measure(Path(args.worker[0]), Path(args.worker[1]), args.repeats)))
        return 0
    from data.phantom import write_case

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        row = write_case(tmp / "case", 0, size=args.size, case_id="bench")
        scan = tmp / row["dicom_dir"]
        from data.landmark_io import read_landmarks

        names = read_landmarks(tmp / row["landmarks"]).names
        print(f"# {os.cpu_count()} CPU cores; scan {args.size}x{args.size}, {row['slices']} slices; "
              f"median of {args.repeats} after one warm-up; fresh process per preset")
        print(f"{'preset':<8}{'read s':>8}{'phase1':>8}{'phase2':>8}{'phase3':>8}{'cascade':>9}{'x read':>8}{'peak MB':>9}")
        for name in args.presets:
            build_random_bundle(tmp / name, name, names)
            r = run_worker(__file__, ["--repeats", str(args.repeats), "--worker", str(scan), str(tmp / name)])
            print(f"{name:<8}{r['read_s']:8.2f}{r['phase1_s']:8.2f}{r['phase2_s']:8.2f}{r['phase3_s']:8.2f}"
                  f"{r['cascade_s']:9.2f}{r['cascade_s'] / r['read_s']:8.1f}{r['peak_rss_mb']:9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
