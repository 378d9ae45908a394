"""Training speed of each phase: seconds per epoch and peak memory, on generated cases.

    python bench/train_speed.py [--cases 12] [--epochs 2] [--preset fast]

Generates ``--cases`` synthetic heads in memory, trains each phase of the preset for
``--epochs`` epochs (crops per case as the preset says) in a fresh process per phase, and prints
the median epoch time after the first (graph tracing) epoch, the time per training sample and
the peak resident memory. Epoch time scales linearly with the number of cases (a 90-case run:
multiply by 72 training cases / ``--cases``).
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fresh_process import run_worker  # noqa: E402


def epoch_timer():
    """A Keras callback recording wall seconds per epoch in ``.times``."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        times: list = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.t0)

    return EpochTimer()


def worker(phase: int, cases: int, epochs: int, preset_name: str, out: Path) -> dict:
    """Train one phase in this process and report timings."""
    import numpy as np

    from cascade.bundle import Bundle
    from cascade.config import preset
    from cascade.case import Case
    from data.phantom import generate_case
    from phases.trainer import train_phase

    config = preset(preset_name)
    key = f"phase{phase}"
    cfg = getattr(config, key)
    config = replace(config, **{key: replace(cfg, net=replace(cfg.net, epochs=epochs, patience=0))})
    names = generate_case(2000)[1].names
    data = []
    for s in range(cases):  # one raw volume at a time: peak memory is training's, not generation's
        vol, lm, _ = generate_case(2000 + s)
        data.append(Case.for_cascade(config, str(s), vol, lm, names))
        del vol
    bundle = Bundle.create(out, config, names)
    timer = epoch_timer()
    train_phase(bundle, phase, data, [], verbose=0, extra_callbacks=[timer])
    steady = timer.times[1:] or timer.times
    net = getattr(config, key).net
    samples = cases if phase == 1 else cases * getattr(config, key).crops_per_case
    samples = int(np.ceil(samples / net.batch_size)) * net.batch_size
    return {"phase": phase, "epoch_s": float(np.median(steady)), "first_epoch_s": timer.times[0],
            "ms_per_sample": 1000 * float(np.median(steady)) / samples, "samples_per_epoch": samples,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--phases", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.cases, args.epochs, args.preset, args.out)))
        return 0
    print(f"# preset {args.preset}; {args.cases} generated cases; {args.epochs} epochs per phase; "
          "fresh process per phase; epoch time = median after the first epoch")
    print(f"{'phase':<6}{'samples/epoch':>14}{'s/epoch':>9}{'first s':>9}{'ms/sample':>11}{'peak MB':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for phase in args.phases:
            r = run_worker(__file__, ["--worker", str(phase), "--cases", str(args.cases), "--epochs", str(args.epochs),
                                      "--preset", args.preset, "--out", str(Path(tmp) / f"b{phase}")])
            print(f"{phase:<6}{r['samples_per_epoch']:>14}{r['epoch_s']:9.1f}{r['first_epoch_s']:9.1f}"
                  f"{r['ms_per_sample']:11.1f}{r['peak_rss_mb']:9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
