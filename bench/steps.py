"""Steps shared by the accuracy benchmarks: timing a stage, reusing generated data, evaluating."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable


def timed(label: str, times: dict, fn: Callable, *args, **kw):
    """Run ``fn``, print and record its wall time (s) under ``label``."""
    print(f"== {label}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    times[label] = round(time.perf_counter() - t0, 1)
    print(f"   {label}: {times[label]:.1f} s", file=sys.stderr, flush=True)
    return out


def reuse_or_make(folder: Path, key: dict[str, Any], make: Callable[[], Path]) -> Path:
    """``folder/manifest.csv`` when a complete set made with the same ``key`` is there, else ``make()``."""
    manifest, stamp = folder / "manifest.csv", folder / "bench_dataset.json"
    if manifest.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == key:
        print(f"  reusing {manifest}", file=sys.stderr)
        return manifest
    manifest = make()
    stamp.write_text(json.dumps(key))
    return manifest


QUICK_PHANTOM = {"size": 96, "pixel_spacing": 2.5, "slice_spacing": 3.0}  # small heads for --quick smoke runs


def phantom_dataset(folder: Path, cases: int, seed: int, options: dict) -> Path:
    """The manifest of ``cases`` generated synthetic heads in ``folder`` (reused when complete, same seed)."""
    from data.phantom import generate_dataset

    return reuse_or_make(folder, {"cases": cases, "seed": seed, **options}, lambda: generate_dataset(
        folder, cases, seed, progress=lambda line: print("  " + line, file=sys.stderr), **options))


def evaluate_into(pred: Path, truth: Path, report: Path):
    """``cascade.evaluation.cli`` of ``pred`` against ``truth`` written into ``report``: (result, summary, paths)."""
    from cascade.evaluation.cli import evaluate, write_outputs

    result = evaluate(pred, truth)
    paths, summary = write_outputs(result, report)
    return result, summary, paths
