"""Synthetic head-CT generator: landmarks on their structures, plausible distances, FOV cuts."""
import numpy as np

from data.landmark_defs import load_definition
from data.phantom import build_head, generate_case, make_case, sample_shape

DEFN = load_definition("craniofacial16")
BONY = ["PoR", "PoL", "OrR", "OrL", "Me", "GoR", "GoL", "CoR", "CoL", "ZyR", "ZyL", "N", "ANS", "PNS", "Ba"]


def dist(lms, a, b):
    return float(np.linalg.norm(lms[a] - lms[b]))


def test_landmarks_lie_exactly_on_their_carrier_surfaces():
    for seed in range(6):
        anatomy = build_head(sample_shape(np.random.default_rng(seed)))
        for name in BONY:
            f = anatomy.carriers[name].at(anatomy.landmarks[name])
            assert abs(f) < 1e-3, f"{name}: f = {f:.4f} (seed {seed})"
        assert anatomy.carriers["S"].at(anatomy.landmarks["S"]) < -1.0  # inside the fossa


def test_landmark_names_come_from_the_definition():
    vol, lms, params = generate_case(0, canonical=True, noise=0, blur=0)
    assert lms.names == DEFN.names
    assert lms.present.all()
    assert set(params["landmarks_canonical"]) == set(DEFN.names)


def test_plausible_distances_over_seeds():
    for seed in range(20):
        lm = build_head(sample_shape(np.random.default_rng(seed))).landmarks
        checks = {("S", "N"): (65, 80), ("PoR", "PoL"): (90, 120), ("ANS", "PNS"): (45, 55),
                  ("ZyR", "ZyL"): (115, 145), ("GoR", "GoL"): (80, 110), ("N", "Me"): (105, 135)}
        for (a, b), (lo, hi) in checks.items():
            d = dist(lm, a, b)
            assert lo <= d <= hi, f"seed {seed}: {a}-{b} = {d:.1f} mm not in [{lo}, {hi}]"


def test_distances_vary_between_seeds():
    sn = [dist(build_head(sample_shape(np.random.default_rng(s))).landmarks, "S", "N") for s in range(10)]
    assert np.ptp(sn) > 3.0


def test_fov_cut_gives_absent_landmarks_really_outside():
    seen = 0
    for seed in range(8):
        case = make_case(seed, fov_cut=True, size=128, pixel_spacing=1.9, slice_spacing=3.0, noise=0, blur=0,
                         teeth=False)
        lms, vol = case.landmarks, case.volume
        assert not lms.present.all(), f"seed {seed}: fov_cut=True but every landmark present"
        inside = vol.contains(lms.coords, margin_vox=0.0)
        assert np.array_equal(inside, lms.present)
        seen += int((~lms.present).sum())
    assert seen > 0


def test_distribution_tables_document_every_parameter():
    from dataclasses import fields

    from data.phantom import scanner, shape
    from data.phantom.shape import HeadShape

    undocumented = [f.name for f in fields(HeadShape)
                    if f.name not in ("right", "left", "missing_teeth", "detail_seed", "chin_dev")
                    and f.name.split("_")[0] not in shape.__doc__]
    assert not undocumented, f"not in the shape table: {undocumented}"
    for word in ("pose", "pixel spacing", "slice spacing", "uneven", "oblique", "protocol", "noise", "blur", "metal"):
        assert word in scanner.__doc__, word
