"""Quality-control figure: where the landmarks landed on the scan.

``overview_figure`` draws three maximum-intensity projections of the scan (canonical axes:
frontal, lateral, axial) with every predicted landmark (and the truth, when given) marked and
labelled, so a reader can judge at a glance whether predictions sit on the anatomy (a cross, not a
circle, for a point that is absent or flagged: outside the scan, far from bone). Each panel
has orientation letters at its edges (R/L, A/P, S/I, read from the scan's LPS geometry), and
labels of nearby points (Po, Co, Zy) are moved apart so none covers another (``place_labels``).
``display_window`` is the grey-level window shared with the per-landmark slices
(``cascade.qc.slices``): a fixed bone-friendly HU window for CT, percentiles otherwise.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from cascade.canonical import to_canonical
from cascade.intensity import intensity_range
from cascade.schema import STATE, flagged
from data.atomic import atomic_path
from data.landmarks import LandmarkSet
from data.volume import Volume

# (title, projection axis of the canonical [k=S, i=P, j=L] array, image rows axis, image columns axis);
# as displayed (rows: k upwards, i downwards; columns to the right) the frontal view shows the
# patient's left on the right (seen from the front), the lateral one posterior on the right (seen
# from the patient's left) and the axial one anterior up, left on the right (seen from the feet)
VIEWS = (("frontal (from anterior)", 1, 0, 2), ("lateral (from the left)", 2, 0, 1),
         ("axial (from below)", 0, 1, 2))
# letters of the negative and positive ends of the LPS axes x, y, z
LPS_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))
MARKER_RADIUS_PT = 4.0  # half the size of a point's marker, kept free of labels
# label offsets (points) tried in turn around a point: up-right first, then the other sides, farther
LABEL_OFFSETS = tuple((r * dx, r * dy) for r in (4.5, 9, 15) for dx, dy in
                      ((1, 1), (1, -1), (-1, 1), (-1, -1), (1.4, 0), (-1.4, 0), (0, 1.4), (0, -1.4)))

DPI = 100

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


def axis_letters(affine: np.ndarray, axis: int) -> tuple[str, str]:
    """(letter at the low-index end, letter at the high-index end) of array ``axis``: the LPS axis
    its direction is closest to, e.g. ``("R", "L")`` for an axis running to the patient's left."""
    direction = np.asarray(affine, float)[:3, axis]
    lps = int(np.argmax(np.abs(direction)))
    low, high = LPS_LETTERS[lps]
    return (low, high) if direction[lps] > 0 else (high, low)


def edge_letters(affine: np.ndarray, rows: int, cols: int, rows_up: bool) -> tuple[str, str, str, str]:
    """Orientation letters at the (left, right, top, bottom) edges of an image whose columns run
    along array axis ``cols`` (index growing to the right) and rows along ``rows`` (index growing
    upwards when ``rows_up``, else downwards)."""
    left, right = axis_letters(affine, cols)
    low, high = axis_letters(affine, rows)
    return (left, right, high, low) if rows_up else (left, right, low, high)


def draw_edge_letters(ax, letters: Sequence[str], **style) -> list:
    """The four letters (left, right, top, bottom) inside the edges of ``ax``; returns the texts."""
    spots = ((0.015, 0.5, "left", "center"), (0.985, 0.5, "right", "center"),
             (0.5, 0.985, "center", "top"), (0.5, 0.015, "center", "bottom"))
    style = {"color": "cyan", "fontsize": 9, "alpha": 0.85, **style}
    return [ax.text(x, y, letter, transform=ax.transAxes, ha=ha, va=va, **style)
            for letter, (x, y, ha, va) in zip(letters, spots)]


def place_labels(fig, labels: Sequence, markers: Sequence = ()) -> None:
    """Move annotation ``labels`` (offset in points from their points) so that no two overlap and
    none covers a marked point (its own, or one of ``markers``: (axes, x, y) in data units).
    Greedy: each label takes the first offset of ``LABEL_OFFSETS`` whose box meets no label placed
    before it and no marker (the least overlapping one when every offset does)."""
    from matplotlib.transforms import Bbox

    renderer = _renderer(fig)
    r = MARKER_RADIUS_PT * fig.dpi / 72
    placed: list = []
    for ax, px, py in [(label.axes, *label.xy) for label in labels] + list(markers):
        x, y = ax.transData.transform((px, py))
        placed.append(Bbox([[x - r, y - r], [x + r, y + r]]))
    for label in labels:
        best, best_overlap = None, None
        for offset in LABEL_OFFSETS:
            label.xyann = offset
            label.set_ha("left" if offset[0] >= 0 else "right")
            label.set_va("bottom" if offset[1] >= 0 else "top")
            box = label.get_window_extent(renderer)
            overlap = sum(_overlap_area(box, other) for other in placed)
            if best_overlap is None or overlap < best_overlap:
                best, best_overlap = offset, overlap
            if overlap == 0:
                break
        label.xyann = best
        label.set_ha("left" if best[0] >= 0 else "right")
        label.set_va("bottom" if best[1] >= 0 else "top")
        placed.append(label.get_window_extent(renderer))


def _overlap_area(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(0.0, w) * max(0.0, h)


def _renderer(fig):
    """The figure's renderer (an Agg canvas is attached to a bare ``Figure`` first)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    return fig.canvas.get_renderer()


def overview_figure(volume: Volume, predicted: LandmarkSet, path: str | Path, truth: LandmarkSet | None = None,
                    title: str = "", window: tuple[float, float] | None = None) -> Path:
    """Write a PNG of three MIPs with predicted (red) and true (green) landmarks.

    ``window``: grey-level (low, high), default ``display_window(volume)``.
    """
    fig = overview(volume, predicted, truth, title, window)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, facecolor="black", format="png")
    return path


def overview(volume: Volume, predicted: LandmarkSet, truth: LandmarkSet | None = None, title: str = "",
             window: tuple[float, float] | None = None):
    """The matplotlib ``Figure`` that ``overview_figure`` writes."""
    from matplotlib.figure import Figure  # no pyplot: no global backend switched, nothing to close

    can = to_canonical(volume, contiguous=False)
    window = window if window is not None else display_window(can)
    fig = Figure(figsize=(16, 6), dpi=DPI, facecolor="black")
    axes = fig.subplots(1, 3)
    labels, markers = [], []
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
            states = lm.extra.get(STATE, [None] * len(lm.names))
            for n, (name_, p, state) in enumerate(zip(lm.names, lm.present, states)):
                if not np.all(np.isfinite(idx[n])):
                    continue
                style = "x" if not p or flagged(state) else "o"  # a cross: absent or flagged (outside, far from bone)
                ax.plot(idx[n, c_ax], idx[n, r_ax], style, ms=6, mfc="none", mec=colour, mew=1.5)
                markers.append((ax, idx[n, c_ax], idx[n, r_ax]))
                if colour == "red":
                    labels.append(ax.annotate(name_, (idx[n, c_ax], idx[n, r_ax]), xytext=LABEL_OFFSETS[0],
                                              textcoords="offset points", color="yellow", fontsize=7))
        ax.set_title(name, color="white")
        ax.set_xlim(-0.5, img.shape[1] - 0.5)
        ax.set_ylim(*((-0.5, img.shape[0] - 0.5) if origin == "lower" else (img.shape[0] - 0.5, -0.5)))
        ax.axis("off")
        draw_edge_letters(ax, edge_letters(can.affine, r_ax, c_ax, rows_up=origin == "lower"))
    legend = "red: predicted" + (", green: truth" if truth is not None else "") + "; x = outside the scan/absent"
    fig.suptitle(f"{title}\n{legend}", color="white")
    fig.tight_layout()
    place_labels(fig, labels, markers)  # after the layout: label boxes are measured where they will be drawn
    return fig
