"""A model bundle: everything needed to run a trained cascade, in one directory.

    bundle.json            version, every setting (``CascadeConfig``), landmark names, training info,
                           the versions of the libraries that wrote it (``info["software"]``)
    phase1.keras           global model
    phase2.keras           shared local model (fast preset), or
    phase2/lm03.keras      one model per landmark (paper preset; number = landmark index)
    phase3.keras | phase3/
    atlases/<name>.npz     reduced labelled heads for an atlas coarse stage (``cascade.coarse.atlas``)
    logs/phase1.csv ...    Keras training logs (one row per epoch)
    checkpoints/           last-epoch checkpoints and their state, for --resume

Models are Keras v3 ``.keras`` files, loaded with ``safe_mode=True`` (no arbitrary code).

Versions: 3 saves every setting that changes what a model means or how it is run; a version-1
bundle (written before preprocessing, window and network-size settings were saved) or version-2
bundle (before ``phase3_starts``) loads with the values that version used (``LEGACY``), so it
is read faithfully even if the defaults change. Any other version, or a manifest with missing or unknown settings, is a clear ``InputError``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cascade.config import CascadeConfig
from cascade.stages import Stage, stage
from data.atomic import atomic_open
from data.errors import InputError

BUNDLED = Path(__file__).resolve().parent / "models"  # the bundles shipped with the package
DEMO_BUNDLE = BUNDLED / "demo"  # synthetic heads only
DEFAULT_BUNDLE = BUNDLED / "craniofacial"  # labelled real head CTs + synthetic heads (phases.train_real)
BUNDLE_VERSION = 3
MANIFEST = "bundle.json"
# what older versions used without saving it (module constants then): they load with exactly these
LEGACY = {
    1: {
        "net": {"base_filters": 64, "l2": 1e-4, "identity_dim": 64},
        "phase": {"window_hu": (-1000.0, 2000.0)},
        "coarse": {"method": "network", "mode": "affine", "spacing": 2.0, "search_mm": 4.0,
                   "scales": (0.88, 0.94, 1.0, 1.06, 1.12), "margin_mm": 20.0},
        "preprocess": {"percentiles": (1.0, 99.0), "resample_below": 0.75},
        "phase3_starts": "phase2",
    },
    2: {"phase3_starts": "phase2"},  # phase 3 always started from phase 2's estimate
}
SOFTWARE = ("landmark-cascade", "tensorflow", "keras", "numpy", "SimpleITK", "opencv-python-headless")


def software_versions() -> dict[str, str]:
    """Installed versions of this package and the libraries a bundle's meaning depends on."""
    from importlib import metadata
    import platform

    out = {"python": platform.python_version()}
    for name in SOFTWARE:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@dataclass
class Bundle:
    """A bundle directory and its manifest."""

    path: Path
    config: CascadeConfig
    names: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, path: str | Path, config: CascadeConfig, names: list[str], **info: Any) -> "Bundle":
        """A new (or re-used, for resuming) bundle directory with its manifest written."""
        b = cls(Path(path), config, list(names), {"software": software_versions(), **info})
        b.save()
        return b

    @classmethod
    def open(cls, path: str | Path) -> "Bundle":
        """Read a bundle's manifest; InputError when it is missing or from another version."""
        path = Path(path)
        man = path / MANIFEST
        try:
            d = json.loads(man.read_text())
        except FileNotFoundError:
            raise InputError(path, f"not a model bundle (no {MANIFEST})") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(man, f"unreadable bundle manifest: {exc}") from None
        version = d.get("version") if isinstance(d, dict) else None
        if version != BUNDLE_VERSION and version not in LEGACY:
            known = ", ".join(str(v) for v in sorted([*LEGACY, BUNDLE_VERSION]))
            raise InputError(man, f"bundle version {version!r}, this software reads versions {known}")
        try:
            config = CascadeConfig.from_dict(d["config"], LEGACY.get(version))
            names = [str(n) for n in d["landmark_names"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(man, f"bundle settings do not match version {version}: {exc}") from None
        return cls(path, config, names, d.get("info", {}))

    def save(self) -> None:
        """Write ``bundle.json`` atomically."""
        with atomic_open(self.path / MANIFEST) as fh:
            json.dump({"version": BUNDLE_VERSION, "landmark_names": self.names, "config": self.config.to_dict(),
                       "info": self.info}, fh, indent=2)

    def stage(self, phase: int) -> Stage:
        """The stage of phase 1, 2 or 3 (``cascade.stages``)."""
        return stage(self.config, phase)

    def phase_config(self, phase: int):
        """The config of phase 1, 2 or 3."""
        return self.stage(phase).cfg

    def shared(self, phase: int) -> bool:
        """True when the phase has one model for all landmarks."""
        return self.stage(phase).shared

    def tag(self, phase: int, landmark: int | None = None) -> str:
        """File stem of a phase's model: ``phase2`` or ``phase2/lm03``."""
        return f"phase{phase}" if landmark is None else f"phase{phase}/lm{landmark:02d}"

    def model_path(self, phase: int, landmark: int | None = None) -> Path:
        return self.path / f"{self.tag(phase, landmark)}.keras"

    def log_path(self, phase: int, landmark: int | None = None) -> Path:
        return self.path / "logs" / f"{self.tag(phase, landmark).replace('/', '_')}.csv"

    def checkpoint_path(self, phase: int, landmark: int | None = None) -> Path:
        return self.path / "checkpoints" / f"{self.tag(phase, landmark).replace('/', '_')}_last.keras"

    def model_paths(self, phase: int) -> list[Path]:
        """All model files a phase needs (one, or one per landmark)."""
        if self.shared(phase):
            return [self.model_path(phase)]
        return [self.model_path(phase, n) for n in range(len(self.names))]

    def model_files(self, phase: int) -> list[Path]:
        """``model_paths(phase)``, each checked to exist (InputError naming the first missing one)."""
        paths = self.model_paths(phase)
        for path in paths:
            _require_model(path, phase)
        return paths

    def load_atlases(self) -> list:
        """The reduced atlases of an atlas coarse stage (``atlases/<name>.npz``, listed in ``info``)."""
        from cascade.coarse.atlas import load_atlases

        return load_atlases(self.path / "atlases", self.atlas_files())

    def atlas_files(self) -> list[str]:
        """The atlas file names ``info`` lists; InputError when there are none."""
        files = self.info.get("atlases") or []
        if not files:
            raise InputError(self.path / MANIFEST, "coarse stage 'atlas' but the bundle lists no atlases")
        return list(files)

    def atlas_landmarks(self) -> list:
        """The landmark sets of the bundle's atlases (none when it has none); their volumes are not read."""
        from cascade.coarse.atlas import load_atlas_landmarks

        return [load_atlas_landmarks(self.path / "atlases" / f) for f in self.info.get("atlases") or []]

    def calibration(self):
        """The uncertainty calibration measured for this bundle (``info["calibration"]``, written by
        ``bench/confidence.py --write``), else the uncalibrated default (``cascade.confidence``)."""
        from cascade.confidence import Calibration

        c = self.info.get("calibration") or {}
        try:
            return Calibration(**{k: float(c[k]) for k in ("scale", "atlas_weight", "shape_weight", "review_mm") if k in c})
        except (TypeError, ValueError) as exc:
            raise InputError(self.path / MANIFEST, f"bad uncertainty calibration {c!r}: {exc}") from None

    def check_files(self, coarse: str | None = None) -> None:
        """InputError naming the first model (or atlas) file a run with ``coarse`` (default: the
        bundle's method) needs that is missing."""
        method = coarse or self.config.coarse.method
        for phase in (1, 2, 3) if method == "network" else (2, 3):
            self.model_files(phase)
        for f in self.atlas_files() if method == "atlas" else []:
            if not (self.path / "atlases" / f).exists():
                raise InputError(self.path / "atlases" / f, "atlas missing from the bundle")

    def load_model(self, phase: int, landmark: int | None = None):
        """Load one trained model (``safe_mode=True``, not compiled)."""
        from cascade.networks.build import load_model

        path = self.model_path(phase, None if self.shared(phase) else landmark)
        _require_model(path, phase)
        return load_model(path)


def _require_model(path: Path, phase: int) -> None:
    if not path.exists():
        raise InputError(path, f"model of phase {phase} missing from the bundle (not trained yet?)")
