"""Quality-control figure: where the landmarks landed on the scan.

``overview_figure`` draws three maximum-intensity projections of the scan (canonical axes:
frontal, lateral, axial) with every predicted landmark (and the truth, when given) marked and
labelled, so a reader can judge at a glance whether predictions sit on the anatomy.
``display_window`` is the grey-level window shared with the per-landmark slices
(``cascade.qc.slices``): a fixed bone-friendly HU window for CT, percentiles otherwise.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from cascade.canonical import to_canonical
from cascade.intensity import intensity_range
from data.atomic import atomic_path
from data.landmarks import LandmarkSet
from data.volume import Volume

# (title, projection axis of the canonical [k=S, i=P, j=L] array, image rows axis, image columns axis)
VIEWS = (("frontal (from anterior)", 1, 0, 2), ("lateral", 2, 0, 1), ("axial (from above)", 0, 1, 2))


CT_WINDOW_HU = (-200.0, 1600.0)  # soft tissue dark, bone bright
HU_AIR_BELOW = -500.0  # a scan whose low values reach this is taken as HU, whatever its modality tag


def looks_like_ct(vol: Volume) -> bool:
    """True for CT: modality ``CT``, or values reaching air in HU (NIfTI files carry no modality)."""
    modality = str(vol.meta.get("modality", "")).upper()
    if modality == "CT":
        return True
    sample = np.asarray(vol.array[::4, ::4, ::4], np.float32)
    return bool(sample.size) and float(np.percentile(sample, 1)) <= HU_AIR_BELOW


def display_window(vol: Volume) -> tuple[float, float]:
    """Grey-level (low, high) for display: ``CT_WINDOW_HU`` for CT, 1st-99th foreground percentile otherwise."""
    if looks_like_ct(vol):
        return CT_WINDOW_HU
    lo, hi = intensity_range(vol.array)
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def _mip_image(vol: Volume, axis: int, window: tuple[float, float] | None = None) -> np.ndarray:
    lo, hi = window if window is not None else display_window(vol)
    return np.clip((vol.array.max(axis=axis).astype(np.float32) - lo) / (hi - lo), 0, 1)


def overview_figure(volume: Volume, predicted: LandmarkSet, path: str | Path, truth: LandmarkSet | None = None,
                    title: str = "", window: tuple[float, float] | None = None) -> Path:
    """Write a PNG of three MIPs with predicted (red) and true (green) landmarks.

    ``window``: grey-level (low, high), default ``display_window(volume)``.
    """
    from matplotlib.figure import Figure  # no pyplot: no global backend switched, nothing to close

    can = to_canonical(volume, contiguous=False)
    window = window if window is not None else display_window(can)
    fig = Figure(figsize=(16, 6), facecolor="black")
    axes = fig.subplots(1, 3)
    for ax, (name, proj, r_ax, c_ax) in zip(axes, VIEWS):
        img = _mip_image(can, proj, window)
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
    return path
