"""A model bundle: everything needed to run a trained cascade, in one directory.

    bundle.json            version, preset config, landmark names, preprocessing, training info
    phase1.keras           global model
    phase2.keras           shared local model (fast preset), or
    phase2/lm03.keras      one model per landmark (paper preset; number = landmark index)
    phase3.keras | phase3/
    atlases/<name>.npz     reduced labelled heads for an atlas coarse stage (``cascade.atlas``)
    logs/phase1.csv ...    Keras training logs (one row per epoch)
    checkpoints/           last-epoch checkpoints and their state, for --resume

Models are Keras v3 ``.keras`` files, loaded with ``safe_mode=True`` (no arbitrary code).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cascade.config import CascadeConfig
from data.atomic import atomic_open
from data.errors import InputError

BUNDLE_VERSION = 1
MANIFEST = "bundle.json"


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
        b = cls(Path(path), config, list(names), dict(info))
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
        if d.get("version") != BUNDLE_VERSION:
            raise InputError(man, f"bundle version {d.get('version')!r}, this software reads {BUNDLE_VERSION}")
        return cls(path, CascadeConfig.from_dict(d["config"]), list(d["landmark_names"]), d.get("info", {}))

    def save(self) -> None:
        """Write ``bundle.json`` atomically."""
        with atomic_open(self.path / MANIFEST) as fh:
            json.dump({"version": BUNDLE_VERSION, "landmark_names": self.names, "config": self.config.to_dict(),
                       "info": self.info}, fh, indent=2)

    def phase_config(self, phase: int):
        """The config of phase 1, 2 or 3."""
        return {1: self.config.phase1, 2: self.config.phase2, 3: self.config.phase3}[phase]

    def shared(self, phase: int) -> bool:
        """True when the phase has one model for all landmarks."""
        return phase == 1 or self.phase_config(phase).shared

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

    def load_atlases(self) -> list:
        """The reduced atlases of an atlas coarse stage (``atlases/<name>.npz``, listed in ``info``)."""
        from cascade.atlas import load_atlases

        files = self.info.get("atlases") or []
        if not files:
            raise InputError(self.path / MANIFEST, "coarse stage 'atlas' but the bundle lists no atlases")
        return load_atlases(self.path / "atlases", files)

    def load_model(self, phase: int, landmark: int | None = None):
        """Load one trained model (``safe_mode=True``, not compiled)."""
        import keras

        import phases.losses  # noqa: F401  (registers the custom objects)
        import phases.resnet3d  # noqa: F401  (FiLM layer)

        path = self.model_path(phase, None if self.shared(phase) else landmark)
        if not path.exists():
            raise InputError(path, f"model of phase {phase} missing from the bundle (not trained yet?)")
        return keras.models.load_model(path, safe_mode=True, compile=False)
