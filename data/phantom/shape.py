"""Shape parameters of the synthetic head, drawn from one random generator.

All lengths are millimetres in the canonical head frame (LPS axes, origin midway between the
porions on the Frankfort horizontal, which is the plane z = 0). Lengths are multiplied by the
head size ``size`` and, where marked, by their own proportion factor ``U(0.97, 1.03)``; so each
distance varies by about +-9 % (size x proportion).

=====================  ===========================  ========================================
parameter              distribution                 meaning
=====================  ===========================  ========================================
size                   U(0.94, 1.06)                overall head scale (all lengths)
sn                     72.5 x size x prop           sella-nasion distance
sn_fh_deg              U(3, 11)                     SN line above FH at nasion (deg)
sella_y, sella_z       -20+-3, 20+-3 (x size)       sella ahead of / above the porion axis
s_ba                   45 x size x prop             sella-basion (clivus) length
n_s_ba_deg             U(124, 136)                  cranial base angle N-S-Ba (deg)
fm_tilt_deg            U(0, 14)                     foramen magnum plane rising backwards
ufh                    53 x size x prop             upper face height N-ANS (vertical)
lfh                    67 x size x prop             lower face height ANS-Me (vertical)
ans_fwd                3+-2 (x size)                ANS ahead of nasion
chin_back              10+-6 (x size)               menton behind nasion (retrognathism)
palate                 50 x size x prop             ANS-PNS length
palate_tilt_deg        U(-3, 3)                     PNS below ANS when positive (deg)
po_width               105 x size x prop            porion-porion distance
zy_width               129 x size x prop            bizygomatic (zygion-zygion) width
go_width               95 x size x prop             bigonial (gonion-gonion) width
gonial_deg             U(116, 134)                  gonial angle (deg)
arch_width/depth       25 / 29 x size x prop        mandibular arch half-width / depth
symphysis_height       32 x size x prop             height of the mandibular symphysis
mp_fh_deg              U(18, 32)                    mandibular plane to FH (deg)
co_ant, co_down,       13+-2, 3+-1.5, 6+-1.5        condylion ahead of / below / medial to
co_med                 (x size)                     the porion
or_back, orbit_x       15+-3, 33 x prop (x size)    orbitale behind nasion, from midline
zy_y, zy_z             -28+-4, -5+-2 (x size)       zygion position relative to porion
skull_length/width     186 / 144 x size x prop      outer cranial length / breadth
vertex_height          124 x size x prop            vertex above FH
vault_thickness        U(5, 7.5)                    cranial vault thickness
cortical_hu            U(1350, 1800)                compact bone HU
cancellous_hu          U(250, 500)                  cancellous bone / diploe HU
asymmetry              U(-1.5, 1.5) per side        lateral offsets of Po, Or, Co, Go, Zy;
                       U(-1, 1) per side            vertical offsets of Po, Or, Go;
                       U(-1.5, 1.5)                 chin (menton) deviation from midline
missing teeth          each tooth 4 %               teeth left out
=====================  ===========================  ========================================

``symmetric=True`` sets every asymmetry to 0 (the two sides are exact mirror images about x = 0);
``mean=True`` uses the mean of every distribution (the "average" head).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

SIZE_RANGE = (0.94, 1.06)
PROP_RANGE = (0.97, 1.03)
ASYM_LATERAL = 1.5
ASYM_VERTICAL = 1.0
ASYM_CHIN = 1.5
MISSING_TOOTH_P = 0.04
N_TEETH_PER_QUADRANT = 7


@dataclass
class SideShape:
    """Per-side offsets (mm) added to the symmetric geometry; ``lat`` grows away from the midline."""

    po_lat: float = 0.0
    po_z: float = 0.0
    or_lat: float = 0.0
    or_z: float = 0.0
    co_lat: float = 0.0
    co_y: float = 0.0
    go_lat: float = 0.0
    go_z: float = 0.0
    zy_lat: float = 0.0


@dataclass
class HeadShape:
    size: float = 1.0
    sn: float = 72.5
    sn_fh_deg: float = 7.0
    sella_y: float = -20.0
    sella_z: float = 20.0
    s_ba: float = 45.0
    n_s_ba_deg: float = 130.0
    fm_tilt_deg: float = 7.0
    ufh: float = 53.0
    lfh: float = 67.0
    ans_fwd: float = 3.0
    chin_back: float = 10.0
    palate: float = 50.0
    palate_tilt_deg: float = 0.0
    po_width: float = 105.0
    zy_width: float = 129.0
    go_width: float = 95.0
    gonial_deg: float = 125.0
    arch_width: float = 25.0
    arch_depth: float = 29.0
    symphysis_height: float = 32.0
    mp_fh_deg: float = 25.0
    co_ant: float = 13.0
    co_down: float = 3.0
    co_med: float = 6.0
    or_back: float = 15.0
    orbit_x: float = 33.0
    zy_y: float = -28.0
    zy_z: float = -5.0
    skull_length: float = 186.0
    skull_width: float = 144.0
    vertex_height: float = 124.0
    vault_thickness: float = 6.0
    cortical_hu: float = 1550.0
    cancellous_hu: float = 380.0
    chin_dev: float = 0.0
    right: SideShape = field(default_factory=SideShape)
    left: SideShape = field(default_factory=SideShape)
    missing_teeth: list = field(default_factory=list)  # (jaw, side, index) triples
    detail_seed: int = 0  # small irregular details (mastoid air cells)

    def side(self, sign: int) -> SideShape:
        """Offsets of the side with x sign ``sign`` (-1 = right, +1 = left in LPS)."""
        return self.right if sign < 0 else self.left

    def as_dict(self) -> dict:
        return asdict(self)


def sample_shape(rng: np.random.Generator, symmetric: bool = False, mean: bool = False) -> HeadShape:
    """Draw a head shape (see the module table). Draw order is fixed so a seed is reproducible."""
    if mean:
        return HeadShape()
    u = rng.uniform

    def prop() -> float:
        return float(u(*PROP_RANGE))

    g = float(u(*SIZE_RANGE))
    h = HeadShape(size=g)
    h.sn = 72.5 * g * prop()
    h.sn_fh_deg = float(u(3, 11))
    h.sella_y = (-20.0 + float(u(-3, 3))) * g
    h.sella_z = (20.0 + float(u(-3, 3))) * g
    h.s_ba = 45.0 * g * prop()
    h.n_s_ba_deg = float(u(124, 136))
    h.fm_tilt_deg = float(u(0, 14))
    h.ufh = 53.0 * g * prop()
    h.lfh = 67.0 * g * prop()
    h.ans_fwd = (3.0 + float(u(-2, 2))) * g
    h.chin_back = (10.0 + float(u(-6, 6))) * g
    h.palate = 50.0 * g * prop()
    h.palate_tilt_deg = float(u(-3, 3))
    h.po_width = 105.0 * g * prop()
    h.zy_width = 129.0 * g * prop()
    h.go_width = 95.0 * g * prop()
    h.gonial_deg = float(u(116, 134))
    h.mp_fh_deg = float(u(18, 32))
    h.co_ant = (13.0 + float(u(-2, 2))) * g
    h.co_down = (3.0 + float(u(-1.5, 1.5))) * g
    h.co_med = (6.0 + float(u(-1.5, 1.5))) * g
    h.or_back = (15.0 + float(u(-3, 3))) * g
    h.orbit_x = 33.0 * g * prop()
    h.zy_y = (-28.0 + float(u(-4, 4))) * g
    h.zy_z = (-5.0 + float(u(-2, 2))) * g
    h.skull_length = 186.0 * g * prop()
    h.skull_width = 144.0 * g * prop()
    h.vertex_height = 124.0 * g * prop()
    h.vault_thickness = float(u(5.0, 7.5))
    h.arch_width = 25.0 * g * prop()
    h.arch_depth = 29.0 * g * prop()
    h.symphysis_height = 32.0 * g * prop()
    h.cortical_hu = float(u(1350, 1800))
    h.cancellous_hu = float(u(250, 500))
    sides = []
    for _ in range(2):
        lat = [float(u(-ASYM_LATERAL, ASYM_LATERAL)) for _ in range(5)]
        vert = [float(u(-ASYM_VERTICAL, ASYM_VERTICAL)) for _ in range(3)]
        co_y = float(u(-ASYM_LATERAL, ASYM_LATERAL))
        sides.append(SideShape(po_lat=lat[0], po_z=vert[0], or_lat=lat[1], or_z=vert[1], co_lat=lat[2], co_y=co_y,
                               go_lat=lat[3], go_z=vert[2], zy_lat=lat[4]))
    chin = float(u(-ASYM_CHIN, ASYM_CHIN))
    missing = [(jaw, side, i) for jaw in ("upper", "lower") for side in (-1, 1) for i in range(N_TEETH_PER_QUADRANT)
               if u() < MISSING_TOOTH_P]
    h.missing_teeth = missing if not symmetric else [(j, s, i) for j, s0, i in missing if s0 < 0 for s in (-1, 1)]
    h.detail_seed = int(rng.integers(0, 2 ** 31 - 1))
    if not symmetric:
        h.right, h.left = sides
        h.chin_dev = chin
    return h
