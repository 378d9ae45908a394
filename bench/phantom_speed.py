"""Speed and memory of the synthetic head-CT generator.

    python bench/phantom_speed.py [--cases 3] [--no-write] [--quick]

For each configuration (256 x 256 x ~120 and 512 x 512 x ~200 slices) it generates ``--cases``
cases with different seeds and prints seconds per case for generation in memory
(``make_case``) and for writing the DICOM series and landmark files (``write_case``), then the
peak memory of one generation (numpy allocations traced with tracemalloc) and the peak
resident size of the process.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.phantom import make_case, write_case  # noqa: E402

CONFIGS = {
    "256x256x~120": dict(size=256, pixel_spacing=0.9, slice_spacing=1.5, protocol="face", uneven=False,
                         oblique=False, metal=False),
    "512x512x~200": dict(size=512, pixel_spacing=0.45, slice_spacing=0.9, protocol="face", uneven=False,
                         oblique=False, metal=False),
}
QUICK = {"96x96x~40": dict(size=96, pixel_spacing=2.2, slice_spacing=4.0, protocol="face")}


def run(name: str, options: dict, cases: int, write: bool) -> None:
    gen, wr, shapes = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(cases):
            t0 = time.perf_counter()
            case = make_case(seed, **options)
            gen.append(time.perf_counter() - t0)
            shapes.append(f"{case.params['columns']}x{case.params['rows']}x{case.params['slices']}")
            if write:
                t1 = time.perf_counter()
                write_case(Path(tmp) / f"case_{seed}", seed, case=case)
                wr.append(time.perf_counter() - t1)
    tracemalloc.start()
    make_case(0, **options)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    line = (f"{name:>14}: generate {sum(gen) / len(gen):6.2f} s/case (min {min(gen):.2f})")
    if write:
        line += f", write {sum(wr) / len(wr):5.2f} s/case"
    line += f", peak numpy memory {peak / 2 ** 20:7.0f} MiB; shapes {', '.join(shapes)}"
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=3, help="cases per configuration (default 3)")
    ap.add_argument("--no-write", dest="write", action="store_false", help="skip the DICOM writing")
    ap.add_argument("--quick", action="store_true", help="one tiny configuration (smoke test)")
    args = ap.parse_args(argv)
    configs = QUICK if args.quick else CONFIGS
    for name, options in configs.items():
        run(name, options, args.cases, args.write)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident size of this process: {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
