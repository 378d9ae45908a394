"""Command line shared by the per-phase training scripts and ``train_all``.

    python -m phases.train_phase1 --manifest data.csv --bundle models/my [--preset fast] [--resume]
    python -m phases.train_phase2 --manifest data.csv --bundle models/my
    python -m phases.train_phase3 --manifest data.csv --bundle models/my
    python -m phases.train_all    --manifest data.csv --bundle models/my   # all three, then validate

The first phase trained creates the bundle (preset, landmark names from the annotation files,
train/validation split by case); later phases reuse its config and split. A phase whose model is
already in the bundle is not trained again unless ``--overwrite`` (train it anew, replacing it)
or ``--resume`` (continue from its last checkpoint) says so.

Everything training prints goes to stderr (nothing to stdout): one line per epoch with the loss
and the train and validation errors in mm (``phases.feedback``), at every ``--verbose`` level.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from cascade.bundle import MANIFEST, Bundle
from cascade.config import PRESETS, preset, tiny, with_intensity
from cascade.intensity import MODES
from cascade.progress import Progress, plural
from phases.dataset import landmark_names, load_cases, split_cases
from phases.strategy import scratch_bundle
from data.manifest import read_manifest
from cascade.evaluation.metrics import mre, radial_errors
from cascade.schema import phase_label
from data.errors import InputError, boundary, report


VERBOSITY_HELP = ("what training prints (stderr): 0 one line per epoch (errors in mm) and the result; "
                  "1 also the loading progress, phase headers and, on a terminal, a redrawn bar of each "
                  "phase's epochs (default); 2 also Keras's raw metrics per epoch (normalised units)")
# measured: bench/phantom.py --quick (6 phantom heads, --tiny --epochs 1) and --tiny at its default
# 3 epochs on the same heads: 128-238 mm after every phase, phases 2-3 no better than phase 1
TINY_NOTE = ("tiny networks are for smoke tests: expect errors of about 130-240 mm (the size of a head), "
             "phases 2-3 no better than phase 1")


def default_prog(phases: Sequence[int]) -> str:
    """The command as a user types it: ``python -m phases.train_all`` or ``python -m phases.train_phase2``."""
    return "python -m phases." + ("train_all" if len(phases) > 1 else f"train_phase{phases[0]}")


def parser(phases: Sequence[int], prog: str | None = None) -> argparse.ArgumentParser:
    """The training command line of ``phases``; ``prog``: its name in the usage line (``default_prog``)."""
    what = "phases " + ", ".join(map(str, phases)) if len(phases) > 1 else f"phase {phases[0]}"
    p = argparse.ArgumentParser(prog=prog or default_prog(phases),
                                description=f"Train {what} of the landmark cascade into a model bundle.")
    p.add_argument("--manifest", required=True, type=Path, help="CSV: case_id, image|dicom_dir, landmarks")
    p.add_argument("--bundle", required=True, type=Path, help="model bundle directory (created if new)")
    p.add_argument("--preset", choices=PRESETS, default="fast", help="network sizes (new bundles only)")
    p.add_argument("--tiny", action="store_true", help="very small networks and inputs (tests, smoke runs)")
    p.add_argument("--intensity", choices=MODES,
                   help="preprocessing of every phase (new bundles): 'intensity' (percentile scaling) for MRI; "
                        "default: the preset's bone threshold (phase 1) and HU window (phases 2-3)")
    p.add_argument("--epochs", type=int, help="override the preset's epochs for these phases")
    p.add_argument("--crops-per-case", type=int,
                   help="phases 2-3: shifted training crops per case per epoch (preset: 36, as the paper)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-fraction", type=float, default=0.2, help="share of cases held out (new bundles)")
    p.add_argument("--folds", type=int, help="k-fold split instead of --val-fraction (new bundles)")
    p.add_argument("--fold", type=int, default=0, help="which fold to hold out, with --folds")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue each phase from its last checkpoint (also a phase already trained: "
                            "more --epochs)")
    again.add_argument("--overwrite", action="store_true",
                       help="train a phase already in the bundle anew, replacing its model (without this or "
                            "--resume such a phase is refused)")
    p.add_argument("--init-from", type=Path, help="new bundles: start each phase from this bundle's weights "
                                                   "(same preset; fine-tuning)")
    p.add_argument("--devices", help="comma-separated devices for MirroredStrategy, e.g. cpu:0,cpu:1 or gpu:0,gpu:1")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help=VERBOSITY_HELP)
    return p


def open_or_create(args, manifest) -> Bundle:
    """The bundle named by ``--bundle``: existing (config and split reused) or new."""
    if (args.bundle / MANIFEST).exists():
        with boundary(args.bundle, "cannot open model bundle"):
            bundle = Bundle.open(args.bundle)
        known = set(manifest["case_id"])
        missing = [c for c in bundle.info["train_cases"] + bundle.info["val_cases"] if c not in known]
        if missing:
            raise InputError(args.manifest, f"lacks case {missing[0]!r} of the bundle's split ({args.bundle})")
        return bundle
    config = tiny(preset(args.preset)) if args.tiny else preset(args.preset)
    if args.intensity:
        config = with_intensity(config, args.intensity)
    ids = list(manifest["case_id"])
    train, val = split_cases(ids, args.val_fraction, args.seed, args.folds, args.fold)
    extra = {"init_from": str(args.init_from)} if args.init_from else {}
    return Bundle.create(args.bundle, config, landmark_names(manifest), manifest=str(args.manifest.resolve()), **extra,
                         seed=args.seed, train_cases=[ids[i] for i in train], val_cases=[ids[i] for i in val])


def refuse_retraining(bundle: Bundle, phases: Sequence[int]) -> None:
    """``InputError`` if a phase to train already has a trained model in the bundle."""
    for phase in phases:
        done = [path for path in bundle.model_paths(phase) if path.exists()]
        if done:
            raise InputError(bundle.path, f"phase {phase} is already trained ({done[0].relative_to(bundle.path)}); "
                                          "--overwrite trains it anew and replaces it, --resume continues its training")


def with_overrides(bundle: Bundle, phases: Sequence[int], epochs: int | None, crops_per_case: int | None = None) -> None:
    """Apply ``--epochs`` (and ``--crops-per-case`` to local phases) to the given phases of the bundle's config."""
    if epochs is None and crops_per_case is None:
        return
    c = bundle.config
    for ph in phases:
        key = f"phase{ph}"
        cfg = getattr(c, key)
        if epochs is not None:
            cfg = replace(cfg, net=replace(cfg.net, epochs=epochs))
        if crops_per_case is not None and ph > 1:
            cfg = replace(cfg, crops_per_case=crops_per_case)
        c = replace(c, **{key: cfg})
    bundle.config = c
    bundle.save()


def validate(bundle: Bundle, val_cases) -> dict:
    """Mean radial error (mm) after each phase on the validation cases, via the full cascade."""
    from cascade.predict import Cascade

    cascade = Cascade(bundle)
    preds = np.stack([cascade.predict(case.volume).estimates for case in val_cases])  # (cases, phases, N, 3)
    truth = np.stack([case.landmarks.coords for case in val_cases])[:, None]
    present = np.stack([case.landmarks.present for case in val_cases])[:, None]
    errors = radial_errors(preds, truth, np.broadcast_to(present, preds.shape[:3]))
    return {f"{phase_label(p + 1)}_mre_mm": mre(errors[:, p]) for p in range(preds.shape[1])} | {"cases": len(val_cases)}


def train_one_phase(bundle: Bundle, phase: int, train, val, args, strategy) -> None:
    """Train every model of ``phase`` under one bar of epochs; its time goes into ``bundle.json``."""
    from phases.trainer import train_phase

    t0 = time.perf_counter()
    models = [None] if bundle.shared(phase) else list(range(len(bundle.names)))
    epochs = bundle.phase_config(phase).net.epochs
    label = f"phase {phase} epoch" if len(models) == 1 else f"phase {phase} ({plural(len(models), 'model')}) epoch"
    if args.verbose:
        print(f"== phase {phase}: {plural(epochs, 'epoch')}"
              + ("" if len(models) == 1 else f" for each of {plural(len(models), 'landmark model')}"), file=sys.stderr)
    with Progress(epochs * len(models), label, bar=None if args.verbose else False) as bar:
        for n in models:
            train_phase(bundle, phase, train, val, seed=bundle.info.get("seed", args.seed), resume=args.resume,
                        verbose=args.verbose, strategy=strategy, landmark=n, progress=bar)
    bundle.info.setdefault("train_seconds", {})[f"phase{phase}"] = round(time.perf_counter() - t0, 1)
    bundle.save()


def run(phases: Sequence[int], argv: list[str] | None = None, validate_after: bool = False,
        prog: str | None = None) -> int:
    """Entry point of the training scripts; returns the exit code. ``prog``: the command's name in
    its usage line (``landmark-cascade train``; default ``default_prog``)."""
    args = parser(phases, prog).parse_args(argv)
    target = args.bundle  # a non-chief worker trains into a scratch copy (phases.strategy.is_chief)
    try:
        with contextlib.ExitStack() as held:
            from phases.strategy import get_strategy, is_chief
            from phases.trainer import make_deterministic

            make_deterministic()

            strategy = get_strategy(args.devices.split(",") if args.devices else None)
            if not is_chief():  # a multi-worker run: the chief writes --bundle, this worker a scratch copy
                args.bundle = held.enter_context(scratch_bundle(args.bundle))
            with boundary(args.manifest, "cannot read manifest"):
                manifest = read_manifest(args.manifest)
            bundle = open_or_create(args, manifest)
            if not (args.overwrite or args.resume):
                refuse_retraining(bundle, phases)
            with_overrides(bundle, phases, args.epochs, args.crops_per_case)
            if bundle.config.preset.endswith("-tiny"):
                print(TINY_NOTE, file=sys.stderr)
            by_id = {cid: i for i, cid in enumerate(manifest["case_id"])}
            wanted = bundle.info["train_cases"] + bundle.info["val_cases"]
            cases = dict(zip(wanted, load_cases(manifest.iloc[[by_id[c] for c in wanted]], bundle.names,
                                               bundle.config, progress=args.verbose > 0)))
            train = [cases[c] for c in bundle.info["train_cases"]]
            val = [cases[c] for c in bundle.info["val_cases"]]
            print(f"{plural(len(train), 'training case')} / {len(val)} validation, "
                  f"{plural(len(bundle.names), 'landmark')}, "
                  f"preset {bundle.config.preset}, {plural(strategy.num_replicas_in_sync, 'replica')}", file=sys.stderr)
            for phase in phases:
                train_one_phase(bundle, phase, train, val, args, strategy)
            if validate_after and val:
                bundle.info["validation"] = validate(bundle, val)
                bundle.save()
                print("validation (mean radial error, mm): " + ", ".join(
                    f"{k}={v:.2f}" for k, v in bundle.info["validation"].items() if k.endswith("_mm")), file=sys.stderr)
    except InputError as err:
        return report(err)
    print(f"bundle: {target}" if args.bundle == target else f"worker done; the chief writes the bundle {target}",
          file=sys.stderr)
    return 0
