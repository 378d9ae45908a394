"""Atlas coarse stage: FFT search, save/load, recovery of a known placement, bundle config."""
import numpy as np
import pytest

from cascade.coarse.atlas import Atlas, AtlasPrior, load_atlas_landmarks, lps_aligned, make_atlas, ncc_search
from cascade.bundle import Bundle
from cascade.config import CascadeConfig, CoarseConfig
from data.errors import InputError
from data.landmarks import LandmarkSet
from data.phantom import generate_case
from data.volume import Volume


@pytest.fixture(scope="module")
def head():
    vol, lm, _ = generate_case(3, canonical=True, noise=0, blur=0, pixel_spacing=1.2, slice_spacing=2.0, size=192)
    return vol, lm


def moved(vol: Volume, lm: LandmarkSet, shift, scale):
    """The same head placed elsewhere: every physical point p -> c + scale (p - c) + shift."""
    c = vol.center_lps()
    m = np.eye(4)
    m[:3, :3] *= scale
    m[:3, 3] = c + np.asarray(shift) - scale * c
    out = Volume(vol.array.copy(), m @ vol.affine)
    coords = lm.coords @ m[:3, :3].T + m[:3, 3]
    return out, LandmarkSet(list(lm.names), coords, lm.present.copy())


def test_ncc_search_finds_a_cut_out_box(head):
    vol, _ = head
    scan = lps_aligned(vol, 4.0)
    lo = np.array([6, 9, 7])
    box = Volume(scan.array[lo[0]:lo[0] + 20, lo[1]:lo[1] + 22, lo[2]:lo[2] + 24].copy(), scan.affine.copy())
    box.affine[:3, 3] = 0.0  # somewhere else entirely
    score, shift = ncc_search(scan, box)
    assert score > 0.99
    assert np.allclose(box.affine[:3, 3] + shift, scan.index_to_lps(lo[None].astype(float))[0], atol=1e-6)


def test_atlas_round_trip(head, tmp_path):
    vol, lm = head
    atlas = make_atlas("phantom3", vol, lm)
    assert np.allclose(atlas.volume.spacing, 2.0) and atlas.volume.array.max() <= 2000
    assert atlas.volume.contains(lm.coords[lm.present]).all()
    atlas.save(tmp_path / "a.npz")
    back = Atlas.load(tmp_path / "a.npz")
    assert back.name == "phantom3" and back.landmarks.names == lm.names
    assert np.array_equal(back.volume.array, atlas.volume.array) and np.allclose(back.volume.affine, atlas.volume.affine)
    only = load_atlas_landmarks(tmp_path / "a.npz")  # the landmarks alone, as the confidence stage reads them
    assert only.names == lm.names and np.array_equal(only.present, lm.present)
    assert np.array_equal(only.coords[lm.present], back.landmarks.coords[lm.present])
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="bad.npz"):
        Atlas.load(tmp_path / "bad.npz")
    with pytest.raises(InputError, match="bad.npz"):
        load_atlas_landmarks(tmp_path / "bad.npz")


@pytest.mark.parametrize("mode, tol", [("search", 4.5), ("affine", 1.5)])
def test_prior_recovers_a_known_placement(head, mode, tol):
    vol, lm = head
    atlas = make_atlas("phantom3", vol, lm)
    scan, truth = moved(vol, lm, shift=(13.0, -9.0, 17.0), scale=1.06)
    est, info = AtlasPrior([atlas], lm.names, CoarseConfig(method="atlas", mode=mode), threads=1).estimate(scan)
    err = np.linalg.norm(est - truth.coords, axis=1)[truth.present]
    assert info["atlases"][0]["scale"] == pytest.approx(1.06)
    assert err.max() < tol, err
    # without the search (atlas placed at its own position) the same scan is far off: the test can fail
    assert np.linalg.norm(lm.coords - truth.coords, axis=1)[truth.present].mean() > 15


def test_config_without_coarse_reads_as_network_and_atlas_round_trips():
    from cascade.bundle import LEGACY

    d = CascadeConfig().to_dict()
    d.pop("coarse")
    assert CascadeConfig.from_dict(d, LEGACY[1]).coarse.method == "network"  # bundles before the atlas option
    with pytest.raises(ValueError, match="coarse: missing setting"):
        CascadeConfig.from_dict(d)  # a current bundle must say
    c = CascadeConfig(coarse=CoarseConfig(method="atlas", mode="bspline", scales=(0.9, 1.1)))
    assert CascadeConfig.from_dict(c.to_dict()) == c


def test_atlas_bundle_without_atlases_is_a_clear_error(tmp_path):
    b = Bundle.create(tmp_path / "b", CascadeConfig(coarse=CoarseConfig(method="atlas")), ["S", "N"])
    with pytest.raises(InputError, match="lists no atlases"):
        b.load_atlases()


def test_parallel_atlases_give_the_same_result_every_run(head):
    """Two atlases registered at once, each single-threaded: bit-identical from run to run and
    equal to registering them one after the other."""
    vol, lm = head
    a = make_atlas("a", vol, lm)
    b = make_atlas("b", *moved(vol, lm, shift=(3.0, 2.0, -4.0), scale=0.97))
    scan, _ = moved(vol, lm, shift=(13.0, -9.0, 17.0), scale=1.06)
    prior = AtlasPrior([a, b], lm.names, CoarseConfig(method="atlas"), threads=2)
    first, info = prior.estimate(scan)
    again, _ = prior.estimate(scan)
    serial, _ = AtlasPrior([a, b], lm.names, CoarseConfig(method="atlas"), threads=1).estimate(scan)
    assert np.array_equal(first, again) and np.array_equal(first, serial)
    assert [i["atlas"] for i in info["atlases"]] == ["a", "b"]
