"""Build the shipped bundle from the labelled real head CTs (and synthetic heads): one command.

    python -m phases.train_real --data ../shared/data --bundle cascade/models/craniofacial

1. Training set (``data.augment.training_set``): augmented CT-like copies of each labelled real
   subject (``--copies``) plus ``--synthetic`` phantom heads, under ``--work``.
2. Phases 2 and 3 (``fast`` preset) trained on it, starting from the weights of ``--init-from``
   (the synthetic-only demo bundle; fine-tuning converges in a fraction of the epochs).
3. Coarse stage: reduced atlases (``cascade.coarse.atlas``: 2 mm head boxes, int16) of the labelled
   subjects go into ``BUNDLE/atlases/``; the bundle's coarse method is ``atlas``. The demo's
   phase-1 network is kept in the bundle as the ``network`` option (``run_pipeline.py --coarse network``).
   Phase 3 starts from phase 2's estimate and from the coarse one, the steadier answer kept per
   landmark (``phase3_starts`` "steadier": 5.83 mm leave-one-subject-out against 7.56 mm from
   phase 2 alone, ``bench/RESULTS.md``).
4. ``bundle.json`` records the subjects, copies, synthetic cases, epochs and times.

``--exclude SUBJECT`` leaves a subject (and every augmented copy of it) out: the leave-one-
subject-out folds of ``bench/real_ct.py`` are built by this same code.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from cascade.coarse.atlas import make_atlas, save_atlases
from cascade.bundle import DEMO_BUNDLE, Bundle
from cascade.config import CoarseConfig
from data.real_subjects import SUBJECTS, load_subjects
from data.augment.training_set import subset_manifest, write_training_set
from data.errors import InputError, report

ROOT = Path(__file__).resolve().parents[1]
DEMO = DEMO_BUNDLE
COPIES = {"visible-human-male": 24, "visible-human-female": 24, "headsq": 10}


def training_pool(data: Path, work: Path, copies: dict[str, int], synthetic: int, seed: int = 0) -> Path:
    """The augmented pool of every subject (reused when its manifest exists)."""
    manifest = work / "pool" / "manifest.csv"
    if manifest.is_file():
        print(f"reusing training pool {manifest}", file=sys.stderr)
        return manifest
    return write_training_set(work / "pool", load_subjects(data), copies, synthetic, seed)


def build_bundle(pool: Path, bundle_dir: Path, data: Path, exclude: Sequence[str] = (), epochs: int = 20,
                 crops_per_case: int = 36, init_from: Path = DEMO, seed: int = 0) -> Bundle:
    """Train phases 2-3 on the pool without ``exclude``, add atlases of the other subjects and the
    phase-1 network of ``init_from``; returns the finished bundle."""
    from phases.train_cli import run

    if (bundle_dir / "bundle.json").exists():
        raise InputError(bundle_dir, "bundle exists; choose a new --bundle folder or remove it")
    t0 = time.perf_counter()
    bundle_dir.mkdir(parents=True, exist_ok=True)
    manifest = subset_manifest(pool, pool.parent / f"manifest_{bundle_dir.name}.csv", set(exclude))  # kept: bundle.json names it
    code = run([2, 3], ["--manifest", str(manifest), "--bundle", str(bundle_dir), "--init-from", str(init_from),
                        "--epochs", str(epochs), "--crops-per-case", str(crops_per_case), "--seed", str(seed),
                        "--verbose", "2"])
    if code:
        raise InputError(manifest, f"training failed (exit {code})")
    bundle = Bundle.open(bundle_dir)
    shutil.copy2(Path(init_from) / "phase1.keras", bundle.model_path(1))
    keep = [s for s in SUBJECTS if s not in exclude]
    subjects = load_subjects(data, keep)
    bundle.info["atlases"] = save_atlases([make_atlas(n, v, lm) for n, (v, lm) in subjects.items()],
                                          bundle.path / "atlases")
    bundle.config = replace(bundle.config, coarse=CoarseConfig(method="atlas"), phase3_starts="steadier")
    bundle.info["training_data"] = {
        "real_subjects": keep, "excluded_subjects": list(exclude), "pool": str(pool),
        "phase1_network": f"copied from {init_from} (synthetic heads only)",
        "phases_2_3": f"fine-tuned from {init_from} for {epochs} epochs, {crops_per_case} crops/case",
        "atlases": "reduced 2 mm head boxes of " + ", ".join(keep)}
    bundle.info["build_seconds"] = round(time.perf_counter() - t0, 1)
    bundle.save()
    return bundle


def main(argv: list[str] | None = None, prog: str = "python -m phases.train_real") -> int:
    """The ``train_real`` command (``prog``: its name in the usage line); returns the exit code."""
    p = argparse.ArgumentParser(prog=prog, description="Build a model bundle from the labelled real head CTs in --data.")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder")
    p.add_argument("--bundle", type=Path, required=True, help="new bundle folder")
    p.add_argument("--work", type=Path, default=ROOT / "work" / "train_real", help="training-set folder")
    p.add_argument("--exclude", action="append", default=[], choices=SUBJECTS, help="leave a subject out")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--crops-per-case", type=int, default=36)
    p.add_argument("--synthetic", type=int, default=30, help="synthetic heads mixed in")
    p.add_argument("--init-from", type=Path, default=DEMO)
    args = p.parse_args(argv)
    try:
        pool = training_pool(args.data, args.work, COPIES, args.synthetic)
        bundle = build_bundle(pool, args.bundle, args.data, args.exclude, args.epochs, args.crops_per_case,
                              args.init_from)
    except InputError as err:
        return report(err)
    print(f"bundle: {bundle.path} ({bundle.info['build_seconds']:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
