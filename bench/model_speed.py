"""Speed / memory benchmark of the phases/ ResNet3D family on this machine.

For each (model, input shape, dtype policy) it prints the analytic forward GFLOP per sample,
forward ms per sample at batch 1 and 8 (``tf.function`` of ``model(x, training=False)``, no XLA,
median after warm-up), train-step seconds per sample (``train_on_batch``, Adam, masked MSE) and
the peak RSS of a fresh process.  Each configuration runs in its own subprocess so the RSS
figures and dtype policies do not mix.

    python bench/model_speed.py            # full run (a few minutes on 2 cores)
    python bench/model_speed.py --quick    # short smoke run
    python bench/model_speed.py --quick --only phase3 --policies float32
"""
from __future__ import annotations

import argparse
from importlib import metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "@@RESULT "

#: (label, depth, width, input shape (D, H, W, C), outputs, identity classes)
CONFIGS = [
    ("phase1 R50 w1", 50, 1.0, (81, 96, 96, 1), 48, None),
    ("phase1 R18 w.25", 18, 0.25, (81, 96, 96, 1), 48, None),
    ("phase2 R18 w.25", 18, 0.25, (48, 100, 100, 1), 3, 48),
    ("phase3 R18 w.25", 18, 0.25, (32, 50, 50, 1), 3, 48),
]
POLICIES = ("float32", "mixed_bfloat16")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (MiB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median_seconds(fn, warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_one(spec: dict) -> dict:
    """Benchmark one configuration in this process; returns a JSON-able dict."""
    import numpy as np
    import keras
    import tensorflow as tf

    sys.path.insert(0, str(ROOT))
    from cascade.networks.losses import make_loss
    from cascade.networks.resnet3d import build_resnet3d, count_flops

    keras.utils.set_random_seed(0)
    shape, ident, outputs = tuple(spec["shape"]), spec["identity"], spec["outputs"]
    model = build_resnet3d(shape, outputs, depth=spec["depth"], width=spec["width"],
                           identity_classes=ident, dtype_policy=spec["policy"])
    res = {"params": model.count_params(), "gflop": count_flops(model) / 1e9,
           "rss_build": peak_rss_mb()}
    rng = np.random.default_rng(0)

    def inputs(batch: int):
        x = rng.normal(size=(batch, *shape)).astype("float32")
        if not ident:
            return x
        return {"image": x, "landmark": np.eye(ident, dtype="float32")[rng.integers(0, ident, batch)]}

    forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    for batch in spec["fwd_batches"]:
        x = tf.nest.map_structure(tf.constant, inputs(batch))
        sec = median_seconds(lambda: forward(x).numpy(), spec["warmup"], spec["repeats"])
        res[f"fwd_ms_b{batch}"] = 1e3 * sec / batch
    res["rss_fwd"] = peak_rss_mb()

    tb = spec["train_batch"]
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=make_loss("mse", outputs // 3),
                  jit_compile=False)
    x = inputs(tb)
    y = rng.uniform(0, 1, size=(tb, outputs)).astype("float32")
    sec = median_seconds(lambda: model.train_on_batch(x, y), 1, spec["train_repeats"])
    res["train_s"] = sec / tb
    res["rss_train"] = peak_rss_mb()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, smaller batches")
    ap.add_argument("--policies", default=",".join(POLICIES), help="comma-separated dtype policies")
    ap.add_argument("--only", default="", help="run only configs whose label contains this")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one JSON spec, print result
    args = ap.parse_args()
    if args.one:
        print(MARK + json.dumps(run_one(json.loads(args.one))), flush=True)
        return

    q = args.quick
    common = {"fwd_batches": [1, 2] if q else [1, 8], "warmup": 1 if q else 2,
              "repeats": 2 if q else 5, "train_batch": 2 if q else 4, "train_repeats": 1 if q else 3}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    flags = open("/proc/cpuinfo").read()
    bf16 = "avx512_bf16" in flags or "amx_bf16" in flags
    versions = f"TF {metadata.version('tensorflow')}, keras {metadata.version('keras')}"
    print(f"# {cpu}; {os.cpu_count()} cores; native bf16: {'yes' if bf16 else 'no'}; {versions}; "
          f"{'quick' if q else 'full'} run; forward batches {common['fwd_batches']}, "
          f"train batch {common['train_batch']}")
    b1, b2 = common["fwd_batches"]
    head = (f"{'config':16} {'shape (DxHxWxC)':15} {'policy':14} {'params':>8} {'GFLOP':>6} "
            f"{'fwd ms/s b' + str(b1):>13} {'fwd ms/s b' + str(b2):>13} {'GFLOP/s':>7} "
            f"{'train s/s':>9} {'RSS MB build/fwd/train':>22}")
    print(head)
    print("-" * len(head))
    for label, depth, width, shape, outputs, ident in CONFIGS:
        if args.only not in label:
            continue
        for policy in args.policies.split(","):
            spec = {**common, "depth": depth, "width": width, "shape": shape, "outputs": outputs,
                    "identity": ident, "policy": policy}
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], env=env,
                                  capture_output=True, text=True)
            lines = [l for l in proc.stdout.splitlines() if l.startswith(MARK)]
            shp = "x".join(map(str, shape))
            if proc.returncode or not lines:
                err = (proc.stderr.strip().splitlines() or ["no output"])[-1][:80]
                print(f"{label:16} {shp:15} {policy:14} FAILED: {err}", flush=True)
                continue
            r = json.loads(lines[0][len(MARK):])
            rate = r["gflop"] / (r[f"fwd_ms_b{b2}"] / 1e3)
            print(f"{label:16} {shp:15} {policy:14} {r['params'] / 1e6:7.2f}M {r['gflop']:6.2f} "
                  f"{r[f'fwd_ms_b{b1}']:13.1f} {r[f'fwd_ms_b{b2}']:13.1f} {rate:7.1f} "
                  f"{r['train_s']:9.3f} {r['rss_build']:8.0f}/{r['rss_fwd']:5.0f}/{r['rss_train']:5.0f}"
                  f"   ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"# ms/s, s/s = per sample; GFLOP/s = analytic forward FLOPs / measured time at batch {b2};"
          " RSS = peak of a fresh process after building / forward / training;"
          " phase2/3 models have the 48-class landmark input (FiLM).")


if __name__ == "__main__":
    main()
