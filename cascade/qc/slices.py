"""Quality-control slices: three orthogonal planes through each predicted landmark.

For one landmark, ``slice_views`` cuts the scan's axial, coronal and sagittal planes (canonical
axes, ``cascade.canonical``: k superior, i posterior, j left) through the predicted point,
linearly interpolated between the two nearest voxel planes so the plane contains the point
exactly, and keeps a square field of view (default 80 mm) centred on it. Images are laid out
in radiological convention (patient's left on the right, superior up, anterior up in axial
and left in sagittal) with physical aspect ratios; positions are millimetres from the point.

``landmark_figures`` writes one PNG per landmark (``<dir>/<landmark>.png``, 3 panels, ~720 x
290 px): the predicted point is a red circle at the centre of each panel, the truth (when
given) a green circle at its projection on the plane, large and opaque when it lies in the
plane and smaller and fainter the further it is from it (its distance is written beside it,
inside the panel);
the title gives the 3D error. A 10 mm scale bar sits in each panel; where the field of view
runs past the scan the panel is dark blue. A point outside the scan still gets an image, saying
so. One PNG per landmark (not one grid per case) keeps each image small enough to open at a
glance and to link from ``index.html``; one matplotlib figure is reused for all landmarks of a
case (only the data change): 16 landmarks take 1-2 s on 2 CPU cores (~80 ms per PNG at 80 dpi).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from cascade.canonical import to_canonical
from cascade.qc.overview import display_window, draw_edge_letters, edge_letters
from data.atomic import atomic_path
from data.landmarks import LandmarkSet
from data.volume import Volume

FOV_MM = 80.0
SCALE_BAR_MM = 10.0
OUTSIDE_COLOUR = "#101c38"  # panel background where the field of view extends past the scan
# (title, axis normal to the plane, image rows axis, image columns axis, +1 if rows grow upwards)
# of the canonical [k=S, i=P, j=L] array: axial rows = i (anterior up), coronal/sagittal rows = k
PLANES = (("axial", 0, 1, 2, -1), ("coronal", 1, 0, 2, +1), ("sagittal", 2, 0, 1, +1))
# the canonical array's axes (k, i, j) as LPS directions: superior, posterior, left
CANONICAL_AXES = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]).T
TRUTH_LABEL_GAP_MM = 3.0  # between the truth marker and its distance label


@dataclass
class SliceView:
    """One plane through a point, ready to draw.

    ``image``: 2D scan values in display orientation (row 0 at the top), or None when the plane
    misses the scan; ``extent``: (left, right, bottom, top) of ``image`` in mm from the point
    (x to the right, y upwards); ``pixel``: (row, column) of the point in ``image``;
    ``spacing``: mm per voxel along (normal, rows, columns); ``axes``: canonical array axes
    (normal, rows, columns); ``up``: +1 when image rows grow upwards in index (k), -1 downwards (i).
    """

    name: str
    axes: tuple[int, int, int]
    up: int
    image: np.ndarray | None
    extent: tuple[float, float, float, float]
    pixel: tuple[float, float]
    spacing: tuple[float, float, float]

    def project(self, delta_index: np.ndarray) -> tuple[float, float, float]:
        """Canonical index offset from the point -> (x mm, y mm) in the panel and mm off the plane."""
        n, r, c = self.axes
        sn, sr, sc = self.spacing
        return float(delta_index[c] * sc), float(self.up * delta_index[r] * sr), float(delta_index[n] * sn)


def _plane(arr: np.ndarray, axes: tuple[int, int, int], at: float, lo: tuple[int, int],
           hi: tuple[int, int]) -> np.ndarray | None:
    """Values on the plane ``axes[0] = at`` (fractional, linear between voxel planes), rows/cols ``lo:hi``."""
    n_ax, r_ax, c_ax = axes
    size = arr.shape[n_ax]
    if not -0.5 <= at <= size - 0.5 or hi[0] <= lo[0] or hi[1] <= lo[1]:
        return None
    at = min(max(at, 0.0), size - 1.0)
    k0 = int(np.floor(at))
    k1 = min(k0 + 1, size - 1)
    index: list[slice] = [slice(None)] * 3
    index[n_ax] = slice(k0, k1 + 1)
    index[r_ax] = slice(lo[0], hi[0])
    index[c_ax] = slice(lo[1], hi[1])
    block = np.moveaxis(arr[tuple(index)], (n_ax, r_ax, c_ax), (0, 1, 2)).astype(np.float32)
    w = np.float32(at - k0)
    return block[0] * (1 - w) + block[-1] * w if k1 > k0 else block[0]


def slice_views(volume: Volume, point: Sequence[float], fov_mm: float = FOV_MM) -> list[SliceView]:
    """Axial, coronal and sagittal ``SliceView`` through the LPS ``point``, ``fov_mm`` square around it."""
    can = to_canonical(volume, contiguous=False)
    sp = can.spacing
    p = can.lps_to_index(np.asarray(point, float).reshape(3))
    finite = bool(np.all(np.isfinite(p)))
    views = []
    for name, n_ax, r_ax, c_ax, up in PLANES:
        pr, pc = (p[r_ax], p[c_ax]) if finite else (0.0, 0.0)
        lo = hi = (0, 0)
        if finite:
            half = [fov_mm / 2 / sp[a] for a in (r_ax, c_ax)]
            lo = tuple(max(0, int(np.floor(q - h))) for q, h in zip((pr, pc), half))
            hi = tuple(min(can.shape[a], int(np.ceil(q + h)) + 1) for q, h, a in zip((pr, pc), half, (r_ax, c_ax)))
        img = _plane(can.array, (n_ax, r_ax, c_ax), p[n_ax], lo, hi) if finite else None
        sr, sc = sp[r_ax], sp[c_ax]
        left, right = (lo[1] - 0.5 - pc) * sc, (hi[1] - 0.5 - pc) * sc
        if up > 0:  # rows grow upwards: flip so that row 0 is the top
            img = None if img is None else img[::-1]
            top, bottom = (hi[0] - 0.5 - pr) * sr, (lo[0] - 0.5 - pr) * sr
            row = (hi[0] - 1) - pr
        else:
            top, bottom = -(lo[0] - 0.5 - pr) * sr, -(hi[0] - 0.5 - pr) * sr
            row = pr - lo[0]
        views.append(SliceView(name, (n_ax, r_ax, c_ax), up, img, (left, right, bottom, top),
                               (float(row), float(pc - lo[1])), (float(sp[n_ax]), float(sr), float(sc))))
    return views


def landmark_filenames(names: Sequence[str]) -> list[str]:
    """PNG file name per landmark: unsafe characters -> ``_``, ``-2``, ``-3`` ... where names collide."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        base = re.sub(r"[^A-Za-z0-9._-]", "_", str(name)).lstrip(".") or "landmark"
        stem, n = base, 1
        while stem.lower() in seen:
            n += 1
            stem = f"{base}-{n}"
        seen.add(stem.lower())
        out.append(stem + ".png")
    return out


class _Renderer:
    """One figure with three panels whose artists are updated per landmark (much faster than new figures)."""

    def __init__(self, fov_mm: float, window: tuple[float, float], dpi: int) -> None:
        from matplotlib.figure import Figure  # no pyplot: no global backend switched

        self.dpi = dpi
        self.fig = Figure(figsize=(9.0, 3.6), facecolor="black")
        axes = self.fig.subplots(1, 3)
        self.fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.8, wspace=0.04)
        h = fov_mm / 2
        self.panels = []
        self.half = h
        for ax, (name, _normal, r_ax, c_ax, up) in zip(axes, PLANES):
            ax.set_facecolor(OUTSIDE_COLOUR)
            ax.set_xlim(-h, h)
            ax.set_ylim(-h, h)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            img = ax.imshow(np.zeros((1, 1)), cmap="gray", vmin=window[0], vmax=window[1], origin="upper",
                            interpolation="bilinear", extent=(-h, h, -h, h))
            truth, = ax.plot([0], [0], "o", mfc="none", mec="lime", mew=1.5)
            truth_text = ax.text(0, 0, "", color="lime", fontsize=7, ha="left", va="bottom", clip_on=True)
            pred, = ax.plot([0], [0], "o", ms=11, mfc="none", mec="red", mew=1.5)
            x0, y0 = -h + 0.06 * fov_mm, -h + 0.06 * fov_mm
            ax.plot([x0, x0 + SCALE_BAR_MM], [y0, y0], "-", color="yellow", lw=2)
            ax.text(x0 + SCALE_BAR_MM / 2, y0 + 0.015 * fov_mm, f"{SCALE_BAR_MM:g} mm", color="yellow", fontsize=7,
                    ha="center", va="bottom")
            draw_edge_letters(ax, edge_letters(CANONICAL_AXES, r_ax, c_ax, rows_up=up > 0), fontsize=8, alpha=0.8)
            note = ax.text(0, 0, "", color="orange", fontsize=10, ha="center", va="center")
            for spine in ax.spines.values():
                spine.set_color("#444444")
            self.panels.append((ax, img, truth, truth_text, pred, note))
        self.title = self.fig.suptitle("", color="white", fontsize=10)

    def draw(self, views: list[SliceView], title: str, note: str, truth_delta: np.ndarray | None) -> None:
        """Update the panels for one landmark."""
        for (ax, img, truth, truth_text, pred, note_text), view in zip(self.panels, views):
            if view.image is not None:
                img.set_data(view.image)
                img.set_extent(view.extent)
            img.set_visible(view.image is not None)
            pred.set_visible(view.image is not None)
            note_text.set_text(note if view.image is None else "")
            show_truth = (view.image is not None and truth_delta is not None
                          and bool(np.all(np.isfinite(truth_delta))))
            sub = view.name
            if show_truth:
                x, y, d = view.project(truth_delta)
                near = max(0.0, 1.0 - abs(d) / 20.0)  # 1 in the plane, 0 from 20 mm off it
                truth.set_data([x], [y])
                truth.set_markersize(4 + 7 * near)
                truth.set_alpha(0.35 + 0.65 * near)
                place_truth_label(truth_text, x, y, self.half)
                truth_text.set_text(f"{d:+.1f} mm" if abs(d) >= 0.5 and max(abs(x), abs(y)) <= self.half else "")
                truth_text.set_alpha(0.35 + 0.65 * near)
                sub += f" (truth {d:+.1f} mm off plane)"
            truth.set_visible(show_truth)
            truth_text.set_visible(show_truth)
            ax.set_title(sub, color="white", fontsize=8)
        self.title.set_text(title)

    def save(self, path: Path) -> Path:
        with atomic_path(path) as tmp:
            self.fig.savefig(tmp, dpi=self.dpi, facecolor="black", format="png",
                             pil_kwargs={"compress_level": 3})  # half the encoding time of 6, +15 % size
        return path

    def close(self) -> None:
        self.fig.clear()


def place_truth_label(text, x: float, y: float, half: float) -> None:
    """Put the truth's distance label beside its marker at (``x``, ``y``) mm, on the side facing the
    panel's centre, so it stays inside the panel (never over the titles above it)."""
    right = x <= half / 3  # in the right or left third: write towards the centre
    up = y <= half / 2
    gap = TRUTH_LABEL_GAP_MM
    lim = half - gap
    text.set_position((float(np.clip(x + (gap if right else -gap), -lim, lim)),
                       float(np.clip(y + (gap if up else -gap), -lim, lim))))
    text.set_ha("left" if right else "right")
    text.set_va("bottom" if up else "top")


def _texts(name: str, volume: Volume, point: np.ndarray, truth_point: np.ndarray | None) -> tuple[str, str]:
    """(figure title, note for empty panels) for one landmark."""
    finite = bool(np.all(np.isfinite(point)))
    title = f"{name}  predicted (red) " + ("(" + ", ".join(f"{v:.1f}" for v in point) + ") LPS mm" if finite
                                           else "has no position")
    note = "no position" if not finite else ""
    if finite and not bool(volume.contains(point)):
        title += "  OUTSIDE THE SCAN"
        note = "outside the scan"
    if truth_point is not None and finite:
        title += f"\n3D error to truth (green): {float(np.linalg.norm(point - truth_point)):.1f} mm"
    return title, note


def _write(renderer: _Renderer, volume: Volume, name: str, point: np.ndarray, path: Path,
           truth_point: np.ndarray | None, fov_mm: float, title: str) -> Path:
    views = slice_views(volume, point, fov_mm)
    head, note = _texts(name, volume, point, truth_point)
    delta = None
    if truth_point is not None and np.all(np.isfinite(point)):
        can = to_canonical(volume, contiguous=False)
        delta = can.lps_to_index(truth_point) - can.lps_to_index(point)
    renderer.draw(views, f"{title}: {head}" if title else head, note, delta)
    return renderer.save(path)


def landmark_figure(volume: Volume, name: str, point: Sequence[float], path: str | Path,
                    truth_point: Sequence[float] | None = None, fov_mm: float = FOV_MM,
                    window: tuple[float, float] | None = None, dpi: int = 80, title: str = "") -> Path:
    """Write one landmark's PNG: three orthogonal slices through the LPS ``point`` (red), truth in green."""
    window = window if window is not None else display_window(volume)
    renderer = _Renderer(fov_mm, window, dpi)
    try:
        truth = None if truth_point is None else np.asarray(truth_point, float).reshape(3)
        return _write(renderer, volume, str(name), np.asarray(point, float).reshape(3), Path(path), truth,
                      fov_mm, title)
    finally:
        renderer.close()


def landmark_figures(volume: Volume, predicted: LandmarkSet, out_dir: str | Path, truth: LandmarkSet | None = None,
                     fov_mm: float = FOV_MM, window: tuple[float, float] | None = None, dpi: int = 80,
                     title: str = "") -> dict[str, Path]:
    """``landmark_figure`` for every predicted landmark into ``out_dir/<landmark>.png``; {name: path}.

    Truth points are matched by name; absent ones (``present`` False) are not drawn.
    """
    can = to_canonical(volume, contiguous=False)
    window = window if window is not None else display_window(can)
    true_sub = truth.subset(predicted.names, missing_ok=True) if truth is not None else None
    out_dir = Path(out_dir)
    renderer = _Renderer(fov_mm, window, dpi)
    written: dict[str, Path] = {}
    try:
        for n, (name, fname) in enumerate(zip(predicted.names, landmark_filenames(predicted.names))):
            t = true_sub.coords[n] if true_sub is not None and true_sub.present[n] else None
            written[name] = _write(renderer, can, name, predicted.coords[n], out_dir / fname, t, fov_mm, title)
    finally:
        renderer.close()
    return written
