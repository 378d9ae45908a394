"""Figure of one synthetic case: slices through the head with the landmarks marked and labelled.

    python -m data.phantom.preview --out docs/phantom_example.png [--seed 3] [--canonical]

Panels are resampled in the canonical head frame (so they are anatomical planes whatever the
pose): mid-sagittal slice, axial slices through the orbits, at the Frankfort plane, through the
palate and at the gonion level, a coronal slice through the condyles, and lateral / frontal bone
projections (a synthetic cephalogram).
Slice panels show the landmarks within 6 mm of the plane; projections show all present ones.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

from data.phantom.case import PhantomCase, make_case

NEAR_MM = 6.0
# display mapping (HU -> grey): soft-tissue contrast below ~100 HU, bone above (a "dual window")
DISPLAY_HU = (-1000.0, -200.0, 100.0, 400.0, 1800.0)
DISPLAY_GREY = (0.0, 0.10, 0.48, 0.66, 1.0)


def display(hu: np.ndarray) -> np.ndarray:
    """Grey levels 0..1 for CT values (piecewise linear: air black, fat dark, soft tissue mid grey,
    bone bright)."""
    return np.interp(hu, DISPLAY_HU, DISPLAY_GREY)


def _sample(case: PhantomCase, pts_can: np.ndarray) -> np.ndarray:
    """HU of the case volume at canonical points (..., 3), trilinear, air outside."""
    pose = case.pose
    lps = pts_can @ pose[:3, :3].T + pose[:3, 3]
    idx = case.volume.lps_to_index(lps.reshape(-1, 3))
    vals = ndimage.map_coordinates(case.volume.array, idx.T, order=1, cval=-1024.0, prefilter=False)
    return vals.reshape(pts_can.shape[:-1])


def _plane(case, origin, u, v, extent_u, extent_v, step):
    a = np.arange(extent_u[0], extent_u[1] + 1e-6, step)
    b = np.arange(extent_v[0], extent_v[1] + 1e-6, step)
    bb, aa = np.meshgrid(b, a, indexing="ij")  # rows follow v
    pts = np.asarray(origin) + aa[..., None] * np.asarray(u) + bb[..., None] * np.asarray(v)
    return _sample(case, pts), (extent_u[0], extent_u[1], extent_v[0], extent_v[1])


def render(case: PhantomCase, out: str | Path, title: str | None = None) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    lm = case.anatomy.landmarks
    present = dict(zip(case.landmarks.names, case.landmarks.present))
    ex, ey, ez = np.eye(3)
    step = 0.5
    y0, y1 = -135.0, 110.0
    z0, z1 = -150.0, 135.0
    x0, x1 = -95.0, 95.0
    go_z = float(np.mean([lm["GoR"][2], lm["GoL"][2]]))
    co_y = float(np.mean([lm["CoR"][1], lm["CoL"][1]]))
    pal_z = float(np.mean([lm["ANS"][2], lm["PNS"][2]]))
    orb_z = float(case.anatomy.key_points["orbit_centre"][2])
    panels = [
        ("mid-sagittal (x = 0)", (0, 0, 0), -ey, ez, (-y1, -y0), (z0, z1), 0, "x"),
        (f"axial through the orbits (z = {orb_z:.0f})", (0, 0, orb_z), ex, -ey, (x0, x1), (-y1, -y0), orb_z, "z"),
        ("axial, Frankfort plane (z = 0)", (0, 0, 0), ex, -ey, (x0, x1), (-y1, -y0), 0, "z"),
        (f"axial through the palate (z = {pal_z:.0f})", (0, 0, pal_z), ex, -ey, (x0, x1), (-y1, -y0), pal_z, "z"),
        (f"axial at gonion level (z = {go_z:.0f})", (0, 0, go_z), ex, -ey, (x0, x1), (-y1, -y0), go_z, "z"),
        (f"coronal through condyles (y = {co_y:.0f})", (0, co_y, 0), ex, ez, (x0, x1), (z0, z1), co_y, "y"),
    ]
    fig, axes = plt.subplots(2, 4, figsize=(20, 11), facecolor="black")
    axes = axes.ravel()
    for ax, (name, origin, u, v, eu, ev, level, axis) in zip(axes[:6], panels):
        img, extent = _plane(case, origin, u, v, eu, ev, step)
        ax.imshow(display(img), cmap="gray", vmin=0, vmax=1, origin="lower", extent=extent, interpolation="bilinear")
        k = "xyz".index(axis)
        for n, p in lm.items():
            if abs(p[k] - level) <= NEAR_MM and present[n]:
                _mark(ax, float(p @ np.asarray(u)), float(p @ np.asarray(v)), n)
        _style(ax, name)
    # projections of bone (synthetic radiographs)
    for ax, (name, u, v, w, eu, ev, ew) in zip(axes[6:], [
        ("lateral bone projection", -ey, ez, ex, (-y1, -y0), (z0, z1), (x0, x1)),
        ("frontal bone projection", ex, ez, ey, (x0, x1), (z0, z1), (-130.0, 110.0)),
    ]):
        pstep = 1.0
        a = np.arange(eu[0], eu[1] + 1e-6, pstep)
        b = np.arange(ev[0], ev[1] + 1e-6, pstep)
        acc = np.zeros((b.size, a.size), np.float32)
        for c in np.arange(ew[0], ew[1] + 1e-6, 1.5):
            bb, aa = np.meshgrid(b, a, indexing="ij")
            pts = aa[..., None] * u + bb[..., None] * v + c * w
            acc += np.clip(_sample(case, pts) - 150.0, 0, 2500)
        acc = np.log1p(acc / 600.0)
        ax.imshow(acc, cmap="gray", origin="lower", extent=(eu[0], eu[1], ev[0], ev[1]), interpolation="bilinear",
                  vmin=0, vmax=np.percentile(acc, 99.7))
        for n, p in lm.items():
            if present[n]:
                _mark(ax, float(p @ u), float(p @ v), n)
        _style(ax, name)
    absent = [n for n, p in present.items() if not p]
    sp = case.volume.spacing
    head = title or (f"synthetic head CT, seed {case.seed}: {case.volume.shape[2]}x{case.volume.shape[1]}x"
                     f"{case.params['slices']} slices, {sp[1]:.2f} mm pixels, {case.params['slice_spacing']:.2f} mm "
                     f"slices, pose {tuple(round(a, 1) for a in case.spec.pose_deg)} deg"
                     + (f", absent: {', '.join(absent)}" if absent else ""))
    fig.suptitle(head + "\ncanonical head frame, mm; sagittal/lateral: face to the right; axial/coronal/frontal: "
                 "radiological view (patient's right on the left), axial anterior up", color="white", fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80, facecolor="black")
    plt.close(fig)
    return out


def _mark(ax, x, y, name):
    ax.plot(x, y, "o", ms=6, mfc="none", mec="#ff3030", mew=1.6)
    ax.plot(x, y, ".", ms=2.5, color="#ff3030")
    ax.annotate(name, (x, y), xytext=(5, 4), textcoords="offset points", color="#ffe040", fontsize=9, weight="bold")


def _style(ax, name):
    ax.set_title(name, color="white", fontsize=11)
    ax.tick_params(colors="#aaaaaa", labelsize=7)
    for sp in ax.spines.values():
        sp.set_color("#555555")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m data.phantom.preview", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--canonical", action="store_true", help="canonical pose / symmetric head")
    ap.add_argument("--pixel-spacing", type=float, default=0.6)
    ap.add_argument("--slice-spacing", type=float, default=0.8)
    ap.add_argument("--size", type=int, default=400)
    args = ap.parse_args(argv)
    case = make_case(args.seed, canonical=args.canonical, pixel_spacing=args.pixel_spacing,
                     slice_spacing=args.slice_spacing, size=args.size, protocol="head", fov_cut=False,
                     uneven=False, metal=False, max_slices=600)
    path = render(case, args.out)
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
