"""Leave-one-subject-out accuracy on the labelled real head CTs, beside registration.

    python bench/real_ct.py [--data ../shared/data] [--work work/bench_real_ct] [--quick]

For each labelled real subject X (Visible Human male, female, headsq):

1. a bundle is built by ``phases.train_real.build_bundle`` *without X and without every augmented
   copy of X* (phases 2-3 fine-tuned from the synthetic demo bundle on the other subjects' copies
   plus synthetic heads; atlases of the other subjects only);
2. on X's original scan it measures, per landmark (mm): registration of the other labelled heads
   onto X (search + affine, and + B-spline: the coarse stage alone, atlases averaged), the
   cascade after phases 2 and 3 from that coarse estimate, phase 3 straight from it, per landmark
   the steadier of those two (``phase3_starts`` "steadier"), the same local phases after the
   phase-1 network instead, and the synthetic-only demo bundle (before this work).

Writes ``WORK/results.json`` and prints a per-landmark table. ``--quick``: a smoke run (one copy
of each Visible Human, one epoch, headsq held out only), as CI runs it. Folds use a shorter schedule than
the shipped bundle (``--epochs``, ``--crops-per-case``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # noqa: E402  (run as a script)

from cascade.evaluation.metrics import radial_errors  # noqa: E402
from data.real_subjects import SUBJECTS, default_root, load_subjects  # noqa: E402
from phases.train_real import COPIES, DEMO, build_bundle, training_pool  # noqa: E402

METHODS = ("registration affine", "registration B-spline", "cascade phase 2 (atlas)", "cascade phase 3 (atlas)",
           "cascade phase 3 from coarse (atlas)", "cascade phase 3 steadier start (atlas)",
           "network phase 1", "network phase 3", "demo bundle phase 3")


def evaluate_fold(bundle_dir: Path, subject: str, volume, truth) -> dict[str, list[float]]:
    """Per-landmark 3D errors (mm) of every method on one held-out subject."""
    from dataclasses import replace

    from cascade.bundle import Bundle
    from cascade.predict import Cascade

    out: dict[str, list[float]] = {}
    seconds: dict[str, float] = {}
    names = list(truth.names)

    def err(est) -> list[float]:
        return [round(float(e), 2) for e in radial_errors(est, truth.coords, truth.present)]

    bundle = Bundle.open(bundle_dir)
    for mode, label in (("affine", "registration affine"), ("bspline", "registration B-spline")):
        b = Bundle(bundle.path, replace(bundle.config, coarse=replace(bundle.config.coarse, mode=mode)), bundle.names,
                   bundle.info)
        c = Cascade(b, "atlas", starts="phase2")  # the paper's cascade; the steadier start below
        t0 = time.perf_counter()
        pred = c.predict(volume)
        seconds[mode] = round(time.perf_counter() - t0, 1)
        idx = [bundle.names.index(n) for n in names]
        out[label] = err(pred.estimates[0][idx])
        if mode == "affine":
            out["cascade phase 2 (atlas)"] = err(pred.estimates[1][idx])
            out["cascade phase 3 (atlas)"] = err(pred.estimates[2][idx])
            out["per-atlas affine"] = {a["atlas"]: err(p[idx]) for a, p in
                                       zip(c.last_prior["atlases"], c.last_prior["per_atlas"])}
            # phase 3 straight from the coarse estimate, and per landmark the steadier of the two starts
            # (what Cascade(b, "atlas", starts="steadier") predicts, without running the atlas stage again)
            case, (coarse, after2) = c.case(volume), pred.estimates[:2]
            out["cascade phase 3 from coarse (atlas)"] = err(c.last_phase(case, coarse)[0][idx])
            steady = c.steadier_last_phase(case, np.stack([after2, coarse]))[0]
            out["cascade phase 3 steadier start (atlas)"] = err(steady[idx])
    pred = Cascade(bundle, "network", starts="phase2").predict(volume)
    idx = [bundle.names.index(n) for n in names]
    out["network phase 1"], out["network phase 3"] = err(pred.estimates[0][idx]), err(pred.estimates[2][idx])
    demo = Cascade.load(DEMO)
    pred = demo.predict(volume)
    out["demo bundle phase 3"] = err(pred.estimates[2][[demo.bundle.names.index(n) for n in names]])
    out["seconds"] = seconds
    out["names"] = names
    return out


def table(results: dict) -> str:
    """Markdown: mean error per method per held-out subject and over all, then per landmark."""
    subjects = [s for s in results if s != "meta"]
    lines = ["| method | " + " | ".join(subjects) + " | all |", "|---" * (len(subjects) + 2) + "|"]
    for m in METHODS:
        vals = [np.nanmean(results[s][m]) for s in subjects]
        every = np.nanmean(np.concatenate([results[s][m] for s in subjects]))
        lines.append(f"| {m} | " + " | ".join(f"{v:.2f}" for v in vals) + f" | **{every:.2f}** |")
    names = results[subjects[0]]["names"]
    lines += ["", "| landmark | " + " | ".join(METHODS) + " |", "|---" * (len(METHODS) + 1) + "|"]
    for n, name in enumerate(names):
        cells = [np.nanmean([results[s][m][n] for s in subjects]) for m in METHODS]
        lines.append(f"| {name} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=default_root())
    p.add_argument("--work", type=Path, default=Path("work/bench_real_ct"))
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--crops-per-case", type=int, default=16)
    p.add_argument("--synthetic", type=int, default=30)
    p.add_argument("--subjects", nargs="+", default=list(SUBJECTS), choices=SUBJECTS, help="held-out subjects")
    p.add_argument("--quick", action="store_true", help="smoke run (CI)")
    args = p.parse_args(argv)
    copies, synthetic, epochs, crops, held_out = COPIES, args.synthetic, args.epochs, args.crops_per_case, args.subjects
    if args.quick:
        copies, synthetic, epochs, crops, held_out = {"visible-human-male": 1, "visible-human-female": 1}, 0, 1, 1, \
            ["headsq"]
    t0 = time.perf_counter()
    pool = training_pool(args.data, args.work, copies, synthetic)
    subjects = load_subjects(args.data)
    results: dict = {"meta": dict(epochs=epochs, crops_per_case=crops, copies=copies, synthetic=synthetic)}
    for x in held_out:
        fold = args.work / f"fold_{x}"
        if not (fold / "atlases").is_dir():
            if fold.exists():
                import shutil

                shutil.rmtree(fold)  # an unfinished fold: start it again
            build_bundle(pool, fold, args.data, exclude=[x], epochs=epochs, crops_per_case=crops)
        vol, truth = subjects[x]
        results[x] = evaluate_fold(fold, x, vol, truth)
        print(f"== held out {x}: " + ", ".join(f"{m} {np.nanmean(results[x][m]):.2f}" for m in METHODS),
              file=sys.stderr, flush=True)
    results["meta"]["seconds"] = round(time.perf_counter() - t0, 1)
    (args.work / "results.json").write_text(json.dumps(results, indent=1))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
