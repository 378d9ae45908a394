"""Generation options: which variations are switched on, and fixed values that override sampling.

``None`` means "draw from the distribution" (see ``data.phantom.shape`` and
``data.phantom.scanner`` for the tables). ``canonical=True`` switches every variation off that
tests usually want fixed: no pose (identity rotation, head centred in the field of view), a
symmetric head, no field-of-view cut, no uneven gaps, no oblique grid, no metal, and fixed
spacing (1 mm pixels, 1.25 mm slices, 256 x 256 unless given). Noise and blur stay on unless
``noise=0`` / ``blur=0``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

PROTOCOLS = ("head", "face", "cut_chin", "cut_top")


@dataclass(frozen=True)
class PhantomOptions:
    canonical: bool = False
    pose: bool | None = None  # False: identity pose and centred head
    symmetric: bool | None = None  # True: mirror-symmetric head (no asymmetry)
    mean_shape: bool = False  # True: every shape parameter at its mean
    fov_cut: bool | None = None  # False: never cut a landmark off (no cut_* protocols, FOV shifted to fit)
    uneven: bool | None = None  # True: force two sections with different gaps; False: never
    oblique: bool | None = None  # True: force an oblique (non-axial) grid; False: never
    metal: bool | None = None  # True: force dental metal and streaks; False: never
    teeth: bool = True
    size: int | None = None  # matrix (rows = columns)
    pixel_spacing: float | None = None  # mm
    slice_spacing: float | None = None  # mm (nominal; uneven sections scale from it)
    protocol: str | None = None  # one of PROTOCOLS
    pose_deg: tuple[float, float, float] | None = None  # fixed (yaw, pitch, roll) rotation, deg
    tilt_deg: float | None = None  # fixed oblique grid tilt about the patient x axis, deg
    noise: float | None = None  # noise SD in HU (0 switches noise off)
    blur: float | None = None  # Gaussian blur SD in mm (0 switches blur off)
    max_slices: int = 400
    labels: bool = False  # also rasterise a label map (volume.meta["labels"])

    def __post_init__(self) -> None:
        if self.protocol is not None and self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}")
        if self.size is not None and not 16 <= int(self.size) <= 1024:
            raise ValueError(f"size must be 16..1024, got {self.size}")
        if self.pixel_spacing is not None and not 0.05 <= float(self.pixel_spacing) <= 5:
            raise ValueError(f"pixel_spacing must be 0.05..5 mm, got {self.pixel_spacing}")
        if self.slice_spacing is not None and not 0.1 <= float(self.slice_spacing) <= 10:
            raise ValueError(f"slice_spacing must be 0.1..10 mm, got {self.slice_spacing}")
        if self.max_slices < 2:
            raise ValueError("max_slices must be at least 2")

    def resolved(self) -> "PhantomOptions":
        """Apply ``canonical`` defaults to the fields left at None."""
        if not self.canonical:
            return self
        fixed = dict(pose=False, symmetric=True, fov_cut=False, uneven=False, oblique=False, metal=False)
        changes = {k: v for k, v in fixed.items() if getattr(self, k) is None}
        if self.pixel_spacing is None:
            changes["pixel_spacing"] = 1.0
        if self.slice_spacing is None:
            changes["slice_spacing"] = 1.25
        if self.size is None:
            changes["size"] = 256
        if self.protocol is None:
            changes["protocol"] = "face"
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return asdict(self)


def make_options(options: PhantomOptions | None = None, **kwargs) -> PhantomOptions:
    """``PhantomOptions`` from keyword arguments (unknown names raise TypeError naming them)."""
    known = {f.name for f in fields(PhantomOptions)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise TypeError(f"unknown phantom option(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    base = options if options is not None else PhantomOptions()
    return replace(base, **kwargs).resolved()
