"""Per-landmark models of one phase without holding them all in memory.

The ``paper`` preset has one ResNet-50 per landmark and phase (32 local models of ~185 MB):
resident, they take 8 GB. ``StreamedModels`` keeps one model of the phase's architecture in
memory and loads a landmark's weights into it when that landmark is asked for (the weights are
variables: the traced forward pass is reused, only their values change). Asked for in landmark
order, each landmark's weights are read once per pass over the landmarks.

``forwards[n](x)`` is the forward pass of landmark ``n``'s model, as a list of resident models'
passes would be, so ``cascade.stages.LocalStage.predict`` takes either.
"""
from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, Sequence

WEIGHTS_MEMBER = "model.weights.h5"  # where Keras 3 keeps the weights inside a .keras archive


class StreamedModels(Sequence):
    """Forward passes of the models saved at ``paths`` (same architecture), one resident at a time."""

    def __init__(self, paths: Sequence[Path], load: Callable[[Path], object]) -> None:
        """``load(path)``: the model at ``path`` (the first one is loaded now and holds every
        landmark's weights in turn)."""
        import tensorflow as tf

        self.paths = [Path(p) for p in paths]
        self.model = load(self.paths[0])
        self.current = 0
        self.loads = 1  # weight files read so far (for benchmarks and tests)
        self._forward = tf.function(lambda x: self.model(x, training=False))
        self._scratch = tempfile.TemporaryDirectory(prefix="landmark-cascade-weights-")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, n: int) -> Callable:
        if not 0 <= n < len(self.paths):
            raise IndexError(n)

        def forward(x):
            self.hold(n)
            return self._forward(x)

        return forward

    def hold(self, n: int) -> None:
        """Make the resident model landmark ``n``'s (its weights read when another's are held)."""
        if n != self.current:
            self.model.load_weights(self._weights_file(self.paths[n]))
            self.current = n
            self.loads += 1

    def _weights_file(self, path: Path) -> Path:
        """A file Keras reads the weights of ``path`` from quickly: the ``.keras`` archive's weights
        member copied into the scratch folder (``path`` itself if it is not such an archive)."""
        if path.suffix != ".keras":
            return path
        out = Path(self._scratch.name) / "held.weights.h5"
        try:
            with zipfile.ZipFile(path) as zf, zf.open(WEIGHTS_MEMBER) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 16 << 20)
        except (zipfile.BadZipFile, KeyError):  # not an archive, or no weights member: Keras reads it as it is
            return path
        return out
