"""Quality-control figure: where the landmarks landed on the scan.

``overview_figure`` draws three maximum-intensity projections of the scan (canonical axes:
frontal, lateral, axial) with every predicted landmark (and the truth, when given) marked and
labelled, so a reader can judge at a glance whether predictions sit on the anatomy.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from cascade.canonical import to_canonical
from data.atomic import atomic_path
from data.landmarks import LandmarkSet
from data.volume import Volume

# (title, projection axis of the canonical [k=S, i=P, j=L] array, image rows axis, image columns axis)
VIEWS = (("frontal (from anterior)", 1, 0, 2), ("lateral", 2, 0, 1), ("axial (from above)", 0, 1, 2))


def _mip_image(vol: Volume, axis: int) -> np.ndarray:
    window = np.clip((vol.array.astype(np.float32) + 200.0) / 1800.0, 0, 1)  # soft tissue dark, bone bright
    return window.max(axis=axis)


def overview_figure(volume: Volume, predicted: LandmarkSet, path: str | Path, truth: LandmarkSet | None = None,
                    title: str = "") -> Path:
    """Write a PNG of three MIPs with predicted (red) and true (green) landmarks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    can = to_canonical(volume, contiguous=False)
    fig, axes = plt.subplots(1, 3, figsize=(16, 6), facecolor="black")
    for ax, (name, proj, r_ax, c_ax) in zip(axes, VIEWS):
        img = _mip_image(can, proj)
        sp = can.spacing
        # rows of the image: k (superior) drawn upwards for frontal/lateral, i (posterior) down for axial
        origin = "lower" if r_ax == 0 else "upper"
        ax.imshow(img, cmap="gray", origin=origin, aspect=sp[r_ax] / sp[c_ax], interpolation="bilinear")
        for lm, colour in ((truth, "lime"), (predicted, "red")):
            if lm is None:
                continue
            idx = can.lps_to_index(lm.coords)
            for n, (name_, p) in enumerate(zip(lm.names, lm.present)):
                if not np.all(np.isfinite(idx[n])):
                    continue
                style = "o" if p else "x"
                ax.plot(idx[n, c_ax], idx[n, r_ax], style, ms=6, mfc="none", mec=colour, mew=1.5)
                if colour == "red":
                    ax.annotate(name_, (idx[n, c_ax], idx[n, r_ax]), xytext=(4, 4), textcoords="offset points",
                                color="yellow", fontsize=7)
        ax.set_title(name, color="white")
        ax.set_xlim(-0.5, img.shape[1] - 0.5)
        ax.set_ylim(*((-0.5, img.shape[0] - 0.5) if origin == "lower" else (img.shape[0] - 0.5, -0.5)))
        ax.axis("off")
    legend = "red: predicted" + (", green: truth" if truth is not None else "") + "; x = outside the scan/absent"
    fig.suptitle(f"{title}\n{legend}", color="white")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, facecolor="black", format="png")
    plt.close(fig)
    return path
