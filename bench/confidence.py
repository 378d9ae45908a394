"""Does ``uncertainty_mm`` mean something? Calibration and review-flag quality (``cascade.confidence``).

    python bench/confidence.py [--models cascade/models/craniofacial] [--work work/bench_confidence]
                               [--real-folds work/train_real] [--write]
    python bench/confidence.py --quick --work /tmp/conf        # smoke run (CI): 2 small heads

Data, per landmark, the phase-3 error (mm) against the truth and the measurements of
``cascade.confidence`` (shift spread, atlas spread, last move):

* **validation**: synthetic heads of seed 3000 (``data.phantom``; not the training seeds, not the
  seed-2000 test set) with the bundle; the calibration is fitted here only;
* **test**: the synthetic test set (seed 2000, as ``bench/phantom.py``) with the same bundle;
* **real, leave one subject out** (``--real-folds``: the work folder of ``bench/real_ct.py``): each
  held-out labelled real CT with the fold bundle trained without it. Reported twice: with the
  synthetic-validation calibration, and with one fitted on the *other* held-out subjects only.

Calibration: ``atlas_weight`` from a small grid (best AUROC of the base value for errors > 4 mm on
validation), then ``scale`` so that :data:`cascade.confidence.COVERAGE` of validation errors are
below ``uncertainty_mm``, then the review threshold that best separates errors > 4 mm on validation
(:func:`choose_review_mm`; ``--review-mm`` to set it). Reports coverage, AUROC, the share of > 4 mm errors flagged and of the
others flagged at the review threshold, and whether the mean of the test-time answers beats the
phase-3 estimate. ``--write`` stores the calibration in the bundle's ``bundle.json``
(``info["calibration"]``). Writes ``WORK/results.json``; the measurements of a synthetic set are
kept in ``WORK/<set>/measurements.json`` and reused while the bundle's models are the same.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.steps import QUICK_PHANTOM, phantom_dataset  # noqa: E402

BAD_MM = 4.0  # an error above this is one the flag should catch
WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)  # atlas_weight and shape_weight grid
THRESHOLDS = tuple(np.arange(2.0, 15.01, 0.5))  # review_mm grid
REVIEW_DEFAULT = 4.0  # when validation has no error > 4 mm (or only such errors) to choose by


def auroc(score: np.ndarray, bad: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` separating ``bad`` from the rest (ties count half)."""
    score, bad = np.asarray(score, float), np.asarray(bad, bool)
    pos, neg = score[bad], score[~bad]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()
    return float(greater / (len(pos) * len(neg)))


def collect(cascade, volume, truth) -> dict[str, list]:
    """Per-landmark error and measurements of one scan (present truth landmarks only)."""
    from cascade.evaluation.metrics import radial_errors

    pred = cascade.predict(volume)
    t = truth.subset(pred.names, missing_ok=True)
    keep = t.present
    c = pred.confidence
    return {"error": radial_errors(pred.final, t.coords, t.present)[keep].tolist(),
            "error_tta": radial_errors(pred.tta_mean, t.coords, t.present)[keep].tolist(),
            "shift": c.shift_mm[keep].tolist(), "atlas": c.atlas_mm[keep].tolist(), "shape": c.shape_mm[keep].tolist(),
            "move": c.move_mm[keep].tolist(), "moved_too_far": c.moved_too_far[keep].tolist(),
            "names": [n for n, k in zip(pred.names, keep) if k], "confidence_s": [pred.seconds["confidence"]]}


def merge(parts: list[dict]) -> dict[str, np.ndarray]:
    keys = parts[0].keys() if parts else ()
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in keys}


def uncertainty(d: dict[str, np.ndarray], cal: dict[str, float]) -> np.ndarray:
    from cascade.confidence import Calibration

    c = Calibration(**{k: v for k, v in cal.items() if k in ("scale", "atlas_weight", "shape_weight")})
    return c.combine(d["shift"], d["atlas"], d["shape"])


def fit(d: dict[str, np.ndarray], coverage: float) -> dict[str, float]:
    """The weights (best AUROC for errors > 4 mm on ``d``, ties to the smaller weights), then
    ``scale`` so that ``coverage`` of ``d``'s errors are below the uncertainty."""
    bad = d["error"] > BAD_MM
    grid = [(a, s) for a in WEIGHTS for s in WEIGHTS]
    unit = lambda a, s: uncertainty(d, {"scale": 1.0, "atlas_weight": a, "shape_weight": s})  # noqa: E731
    best = max(grid, key=lambda w: (np.nan_to_num(auroc(unit(*w), bad)), -w[0] - w[1]))
    base = np.maximum(unit(*best), 1e-6)
    return {"atlas_weight": float(best[0]), "shape_weight": float(best[1]),
            "scale": float(np.quantile(d["error"] / base, coverage))}


def choose_review_mm(d: dict[str, np.ndarray], u: np.ndarray) -> float:
    """The review threshold (mm, on a 0.5 mm grid from 2 to 15) that best separates errors > 4 mm
    from the rest on ``d``: the largest share of them flagged minus the share of the others flagged
    (Youden's J; ties to the larger threshold)."""
    bad = d["error"] > BAD_MM
    moved = d["moved_too_far"].astype(bool)
    if not bad.any() or bad.all():
        return REVIEW_DEFAULT

    def j(t: float) -> float:
        flag = (u > t) | moved
        return float(np.mean(flag[bad]) - np.mean(flag[~bad]))

    return max(THRESHOLDS, key=lambda t: (round(j(t), 9), t))


def score(d: dict[str, np.ndarray], u: np.ndarray, review_mm: float) -> dict[str, float]:
    """Coverage, AUROC and flag rates of the uncertainties ``u`` on data ``d``."""
    bad = d["error"] > BAD_MM
    flag = (u > review_mm) | d["moved_too_far"].astype(bool)
    return {"landmarks": int(len(u)), "mre_mm": float(np.mean(d["error"])), "mre_tta_mm": float(np.mean(d["error_tta"])),
            "coverage": float(np.mean(d["error"] <= u)), "median_uncertainty_mm": float(np.median(u)),
            "auroc": auroc(u, bad), "bad": int(bad.sum()),
            "bad_flagged": float(np.mean(flag[bad])) if bad.any() else float("nan"),
            "good_flagged": float(np.mean(flag[~bad])) if (~bad).any() else float("nan"),
            "spearman_u_error": spearman(u, d["error"]),
            "auroc_per_source": {k: auroc(d[k], bad) for k in ("shift", "atlas", "shape", "move")}}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1]) if len(a) > 2 else float("nan")


def synthetic(cascade, folder: Path, cases: int, seed: int, options: dict) -> list[dict]:
    from data.landmark_io import read_landmarks
    from data.load import load_volume
    from data.manifest import read_manifest

    m = read_manifest(phantom_dataset(folder, cases, seed, options))
    cache = folder / "measurements.json"  # per bundle (its bundle.json's models and settings) and set
    key = _bundle_key(cascade.bundle)
    cached = json.loads(cache.read_text()) if cache.is_file() else {}
    if cached.get("key") == key and len(cached.get("cases", [])) == len(m["scan"]):
        print(f"  reusing {cache}", file=sys.stderr)
        return cached["cases"]
    out = []
    for n, (scan, lm) in enumerate(zip(m["scan"], m["landmarks"]), 1):
        out.append(collect(cascade, load_volume(scan), read_landmarks(lm)))
        print(f"  {folder.name}: {n}/{len(m['scan'])}", file=sys.stderr, flush=True)
    cache.write_text(json.dumps({"key": key, "cases": out}))
    return out


def _bundle_key(bundle) -> str:
    """Which bundle measured: its path and its settings and models (not its calibration, which
    does not change the measurements)."""
    import hashlib

    h = hashlib.sha256(json.dumps([str(Path(bundle.path).resolve()), bundle.config.to_dict(), bundle.names]).encode())
    for path in sorted(Path(bundle.path).rglob("*.keras")) + sorted(Path(bundle.path).rglob("*.npz")):
        h.update(path.read_bytes())
    return h.hexdigest()


def real_folds(folds: Path, data: Path | None) -> dict[str, dict]:
    """Held-out subject -> its measurements with its fold bundle (``bench/real_ct.py`` folders)."""
    from cascade.predict import Cascade
    from data.real_subjects import SUBJECTS, default_root, load_subjects

    subjects = load_subjects(data or default_root())
    out = {}
    for x in SUBJECTS:
        fold = folds / f"fold_{x}"
        if (fold / "bundle.json").is_file() and (fold / "atlases").is_dir():
            vol, truth = subjects[x]
            out[x] = collect(Cascade.load(fold), vol, truth)
            print(f"  real fold {x} done", file=sys.stderr, flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    from cascade.confidence import COVERAGE
    from cascade.predict import Cascade

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", type=Path, default=ROOT / "cascade" / "models" / "craniofacial")
    p.add_argument("--work", type=Path, default=Path("work/bench_confidence"))
    p.add_argument("--validation-cases", type=int, default=20)
    p.add_argument("--test-cases", type=int, default=30)
    p.add_argument("--real-folds", type=Path, help="bench/real_ct.py's --work folder (fold bundles)")
    p.add_argument("--data", type=Path, help="the shared data folder (default ../shared/data)")
    p.add_argument("--review-mm", type=float, help="review threshold (default: chosen on the validation data)")
    p.add_argument("--write", action="store_true", help="store the calibration in the bundle's bundle.json")
    p.add_argument("--quick", action="store_true", help="smoke run: 2 small validation heads, 1 test head")
    args = p.parse_args(argv)
    options = dict(QUICK_PHANTOM) if args.quick else {}
    if args.quick:
        args.validation_cases, args.test_cases = 2, 1
    t0 = time.perf_counter()
    cascade = Cascade.load(args.models)
    val = merge(synthetic(cascade, args.work / "validation", args.validation_cases, 3000, options))
    test = merge(synthetic(cascade, args.work / "test", args.test_cases, 2000, options))
    real = real_folds(args.real_folds, args.data) if args.real_folds else {}
    everything = merge([val, *real.values()])  # what the bundle's calibration is fitted on
    cal = fit(everything, COVERAGE)
    if args.review_mm is None:
        args.review_mm = choose_review_mm(everything, uncertainty(everything, cal))
    results: dict = {"bundle": str(args.models), "calibration": {**cal, "review_mm": args.review_mm},
                     "validation (fitted on)": score(everything, uncertainty(everything, cal), args.review_mm),
                     "synthetic test": score(test, uncertainty(test, cal), args.review_mm)}
    nested = []
    for x, d in real.items():  # calibrated without x: synthetic validation + the other real folds
        rest = merge([val, *(real[o] for o in real if o != x)])
        own = fit(rest, COVERAGE)
        own_review = choose_review_mm(rest, uncertainty(rest, own))
        d = merge([d])
        results[f"real {x} (calibrated without it)"] = {**score(d, uncertainty(d, own), own_review),
                                                        "calibration": {**own, "review_mm": own_review}}
        nested.append((d, uncertainty(d, own), own_review))
    if nested:
        pooled = merge([d for d, _, _ in nested])
        u_all = np.concatenate([u for _, u, _ in nested])
        # each subject flagged at its own threshold: passed as the forced flags, with no threshold on top
        flags = np.concatenate([(u > t) | d["moved_too_far"].astype(bool) for d, u, t in nested])
        results["real, all held out"] = score({**pooled, "moved_too_far": flags}, u_all, np.inf)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    results["confidence_s_mean"] = float(np.mean(np.concatenate([val["confidence_s"], test["confidence_s"]])))
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "results.json").write_text(json.dumps(results, indent=1))
    print(f"calibration: scale {cal['scale']:.3f}, atlas_weight {cal['atlas_weight']:g}, shape_weight {cal['shape_weight']:g}, "
          f"review above {args.review_mm:g} mm")
    print("| data | landmarks | MRE mm | MRE TTA mean mm | coverage | AUROC (>4 mm) | >4 mm flagged | others flagged |")
    print("|---|---|---|---|---|---|---|---|")
    for k, r in results.items():
        if isinstance(r, dict) and "coverage" in r:
            print(f"| {k} | {r['landmarks']} | {r['mre_mm']:.2f} | {r['mre_tta_mm']:.2f} | {100 * r['coverage']:.0f} % | "
                  f"{r['auroc']:.2f} | {100 * r['bad_flagged']:.0f} % of {r['bad']} | {100 * r['good_flagged']:.0f} % |")
    print("AUROC of each measurement alone (errors > 4 mm): " + "; ".join(
        f"{k}: " + ", ".join(f"{src} {v:.2f}" for src, v in r["auroc_per_source"].items())
        for k, r in results.items() if isinstance(r, dict) and "auroc_per_source" in r))
    if args.write:
        from cascade.bundle import Bundle

        b = Bundle.open(args.models)
        b.info["calibration"] = {**cal, "review_mm": args.review_mm, "measured_by": "bench/confidence.py",
                                 "validation": f"{args.validation_cases} synthetic heads (seed 3000)"
                                               + (f" and the leave-one-out folds of {', '.join(real)}" if real else "")}
        b.save()
        print(f"calibration written to {b.path / 'bundle.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
