"""Throughput of many scans: ``run_pipeline.py`` serial vs ``--workers N`` vs ``--cluster`` (Dask).

    python bench/batch_throughput.py [--scans 20] [--size 256] [--workers 2] [--models BUNDLE] [--quick]

Writes ``--scans`` synthetic head CTs (DICOM), then runs ``run_pipeline.py`` on all of them as a
user would (a fresh process each time, bundle loading included) in each configuration: serial
(TensorFlow's default threads and one thread), ``--workers N``, and the workers of a local Dask
cluster of N processes (started before timing; its start-up is printed apart). Prints wall seconds,
scans per minute, the peak memory of the whole process tree (for the cluster: this script, the
cluster's processes and the client) and of its largest process, and
whether the landmark files equal the serial one-thread run's byte for byte.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def tree_rss(pid: int) -> tuple[float, float]:
    """(sum, largest) resident MB of process ``pid`` and all its descendants."""
    import psutil

    try:
        procs = [psutil.Process(pid)]
        procs += procs[0].children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0, 0.0
    sizes = []
    for p in procs:
        try:
            sizes.append(p.memory_info().rss / 2**20)
        except psutil.NoSuchProcess:
            pass
    return sum(sizes), max(sizes, default=0.0)


def timed(cmd: list[str], cwd: Path, whole: bool = False) -> dict:
    """Run ``cmd``; wall seconds and peak tree / largest-process RSS (sampled every 0.2 s) of its
    process tree, or with ``whole`` of this process's tree (a cluster started here included)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = [0.0, 0.0]

    def sample():
        while proc.poll() is None:
            total, big = tree_rss(os.getpid() if whole else proc.pid)
            peak[0], peak[1] = max(peak[0], total), max(peak[1], big)
            time.sleep(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    watcher.join()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-2000:]}")
    return {"wall_s": wall, "tree_mb": peak[0], "largest_mb": peak[1]}


def same_files(a: Path, b: Path) -> bool:
    names = sorted(p.relative_to(a) for p in a.rglob("landmarks.*"))
    return bool(names) and all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scans", type=int, default=20)
    ap.add_argument("--size", type=int, default=256, help="image matrix of the synthetic scans")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--models", default=None, help="bundle (default: the shipped one)")
    ap.add_argument("--no-cluster", action="store_true", help="skip the Dask cluster")
    ap.add_argument("--quick", action="store_true", help="3 small scans (smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.scans, args.size = 3, 96
    from data.phantom import write_case

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        for seed in range(args.scans):
            write_case(tmp / f"s{seed:02d}", 100 + seed, size=args.size)
        scans = [f"s{seed:02d}/dicom" for seed in range(args.scans)]
        print(f"# {os.cpu_count()} CPU cores; {args.scans} synthetic scans {args.size}x{args.size} written in "
              f"{time.perf_counter() - t:.0f} s; bundle {args.models or 'default'}; fresh process per run")
        base = [sys.executable, str(ROOT / "run_pipeline.py"), *scans, "--quiet"]
        if args.models:
            base += ["--models", args.models]
        n = args.workers
        configs = [("serial", ["--workers", "1"]), ("serial, 1 thread", ["--workers", "1", "--threads", "1"]),
                   (f"--workers {n}", ["--workers", str(n)])]
        cluster = None
        if not args.no_cluster:
            from distributed import LocalCluster

            t = time.perf_counter()
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
            print(f"# Dask LocalCluster of {n} worker processes started in {time.perf_counter() - t:.1f} s "
                  "(not in the times below)")
            threads = max(1, (os.cpu_count() or 1) // n)
            configs.append((f"--cluster ({n} workers)", ["--cluster", cluster.scheduler_address,
                                                         "--threads", str(threads)]))
        print(f"{'configuration':<26}{'wall s':>8}{'scans/min':>11}{'tree MB':>9}{'largest MB':>12}  files = serial 1 thread")
        reference = tmp / "out1"
        try:
            for k, (label, extra) in enumerate(configs):
                out = tmp / f"out{k}"
                r = timed(base + ["--out", str(out), *extra], tmp, whole="--cluster" in extra)
                same = "reference" if out == reference else ("yes" if same_files(reference, out) else "no")
                print(f"{label:<26}{r['wall_s']:8.1f}{60 * args.scans / r['wall_s']:11.1f}{r['tree_mb']:9.0f}"
                      f"{r['largest_mb']:12.0f}  {same}", flush=True)
        finally:
            if cluster is not None:
                cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
