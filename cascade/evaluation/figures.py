"""Figures of an error table (PNG): error per landmark per phase, per axis, cumulative error curve,
model vs inter-observer gap.

Each ``*_figure`` function takes the table (``cascade.evaluation.metrics.error_table`` rows or ``errors.csv``)
and returns a matplotlib ``Figure`` built without pyplot (no GUI backend is touched, so the same
functions draw inline in a notebook); ``save_figure`` writes one atomically, ``write_figures``
writes them all.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cascade.evaluation.metrics import ABSENT, AXES, OBSERVER, SDR_MM, cumulative_share, ordered_phases
from data.atomic import atomic_path

FIGURES = {"landmark_phase": "errors_by_landmark.png", "axes": "errors_by_axis.png",
           "cumulative": "cumulative_error.png", "observer": "model_vs_observer.png"}
OBSERVER_COLOUR = "0.55"


def _colours(phases: list) -> dict:
    palette = [f"C{i}" for i in range(10)]
    model = [p for p in phases if p != OBSERVER]
    out = {p: palette[i % 10] for i, p in enumerate(model)}
    if OBSERVER in phases:
        out[OBSERVER] = OBSERVER_COLOUR
    return out


def _grouped_boxes(ax, data: dict, outer: list, inner: list, colours: dict) -> None:
    """Boxes of ``data[(outer, inner)]`` (1D arrays), ``inner`` side by side within each ``outer`` slot."""
    width = 0.8 / len(inner)
    for j, key in enumerate(inner):
        pos = [i + (j - (len(inner) - 1) / 2) * width for i in range(len(outer))]
        vals = [data.get((o, key), np.array([])) for o in outer]
        keep = [(p, v) for p, v in zip(pos, vals) if len(v)]
        if keep:
            parts = ax.boxplot([v for _, v in keep], positions=[p for p, _ in keep], widths=width * 0.85,
                               patch_artist=True, showfliers=True, flierprops={"markersize": 2})
            for box in parts["boxes"]:
                box.set(facecolor=colours[key], alpha=0.75)
            for med in parts["medians"]:
                med.set(color="black")
        ax.plot([], [], color=colours[key], linewidth=8, alpha=0.75, label=str(key))
    ax.set_xticks(range(len(outer)))
    ax.set_xticklabels([str(o) for o in outer])
    ax.set_xlim(-0.6, len(outer) - 0.4)


def _valued(errors: pd.DataFrame) -> pd.DataFrame:
    return errors.dropna(subset=["error_mm"])


def landmark_phase_figure(errors: pd.DataFrame) -> Figure:
    """Box plot of the 3D error (mm) of each landmark, one box per phase (and inter-observer)."""
    phases, valued = ordered_phases(errors["phase"]), _valued(errors)
    names = list(pd.unique(errors["landmark"]))
    data = {(n, p): g["error_mm"].to_numpy() for (n, p), g in valued.groupby(["landmark", "phase"], sort=False)}
    fig = Figure(figsize=(max(7.0, 0.22 * len(names) * len(phases) + 2), 4.5), layout="constrained")
    ax = fig.subplots()
    _grouped_boxes(ax, data, names, phases, _colours(phases))
    ax.set(xlabel="landmark", ylabel="3D error (mm)", title="Error per landmark and phase")
    ax.tick_params(axis="x", labelrotation=90 if len(names) > 12 else 0)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def axes_figure(errors: pd.DataFrame) -> Figure:
    """Signed (left) and absolute (right) error along x, y, z (LPS mm), one box per phase."""
    phases, valued = ordered_phases(errors["phase"]), _valued(errors)
    fig = Figure(figsize=(max(8.0, 2.2 * len(phases) + 4), 4.2), layout="constrained")
    colours = _colours(phases)
    for ax, signed in zip(fig.subplots(1, 2), (True, False)):
        col = "d{}_mm" if signed else "abs_d{}_mm"
        data = {(a, p): g[col.format(a)].to_numpy() for p, g in valued.groupby("phase", sort=False) for a in AXES}
        _grouped_boxes(ax, data, list(AXES), phases, colours)
        ax.set(xlabel="axis (LPS)", ylabel=("signed" if signed else "absolute") + " error (mm)",
               title=("Signed" if signed else "Absolute") + " error per axis")
        if signed:
            ax.axhline(0, color="black", linewidth=0.8)
        ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def cumulative_figure(errors: pd.DataFrame, max_mm: float | None = None) -> Figure:
    """Share of landmarks (present in the truth) within d mm, per phase; failures never count as within."""
    phases, valued = ordered_phases(errors["phase"]), _valued(errors)
    top = max_mm or float(np.nanpercentile(valued["error_mm"], 95) * 1.2 if len(valued) else 10.0)
    top = max(top, max(SDR_MM) * 1.5)
    d = np.linspace(0.0, top, 400)
    colours = _colours(phases)
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.subplots()
    for phase in phases:
        sub = errors[errors["phase"] == phase]
        n = int((sub["status"] != ABSENT).sum())
        ax.plot(d, cumulative_share(sub, d), color=colours[phase], label=f"{phase} (n = {n})",
                linestyle="--" if phase == OBSERVER else "-")
    for r in SDR_MM:
        ax.axvline(r, color="0.8", linewidth=0.8, zorder=0)
    ax.set(xlim=(0, top), ylim=(0, 100), xlabel="d (mm)", ylabel="landmarks within d (%, error <= d)",
           title="Cumulative error curve")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    return fig


def observer_figure(errors: pd.DataFrame) -> Figure | None:
    """Mean 3D error per landmark of the last model phase beside the inter-observer gap (None without it)."""
    phases = ordered_phases(errors["phase"])
    model = [p for p in phases if p != OBSERVER]
    if OBSERVER not in phases or not model:
        return None
    valued = _valued(errors[errors["phase"].isin([model[-1], OBSERVER])])
    names = list(pd.unique(errors["landmark"]))
    mean = valued.groupby(["landmark", "phase"])["error_mm"].mean()
    fig = Figure(figsize=(max(7.0, 0.45 * len(names) + 2), 4.5), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(names))
    for k, (phase, label) in enumerate(((model[-1], f"model ({model[-1]})"), (OBSERVER, OBSERVER))):
        vals = [mean.get((n, phase), np.nan) for n in names]
        ax.bar(x + (k - 0.5) * 0.4, vals, width=0.4, label=label, color=_colours(phases)[phase])
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=90 if len(names) > 12 else 0)
    ax.set(xlabel="landmark", ylabel="mean 3D error (mm)", title="Model vs inter-observer gap")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG atomically; returns the path."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return Path(path)


def write_figures(errors: pd.DataFrame, folder: str | Path) -> dict[str, Path]:
    """Every figure that applies, under ``folder`` (names: :data:`FIGURES`); returns {kind: path}."""
    makers = {"landmark_phase": landmark_phase_figure, "axes": axes_figure, "cumulative": cumulative_figure,
              "observer": observer_figure}
    out = {}
    for kind, make in makers.items():
        fig = make(errors)
        if fig is not None:
            out[kind] = save_figure(fig, Path(folder) / FIGURES[kind])
    return out
