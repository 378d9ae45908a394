"""Phantom cases on disk: DICOM + landmark files read back exactly, determinism, manifest, CLI."""
import csv
import hashlib
import os

import numpy as np
import pytest
from scipy import ndimage

from data.dicom_read import read_dicom
from data.landmark_io import read_landmarks
from data.manifest import read_manifest
from data.phantom import LABELS, generate_case, generate_dataset, make_case, write_case
from data.phantom.__main__ import main
from data.phantom.anatomy import LANDMARK_STRUCTURE
from data.phantom.case import MANIFEST_COLUMNS

SMALL = dict(size=96, pixel_spacing=2.2, slice_spacing=3.0)


def hu_at(vol, p):
    return float(ndimage.map_coordinates(vol.array, vol.lps_to_index(p).reshape(3, 1), order=1)[0])


@pytest.fixture(scope="module")
def canonical_case(tmp_path_factory):
    """A canonical case written to disk and read back."""
    case = make_case(11, canonical=True, pixel_spacing=0.8, slice_spacing=1.0, size=300, noise=6, labels=True)
    folder = tmp_path_factory.mktemp("phantom") / "case"
    write_case(folder, case.seed, case=case)
    return case, folder, read_dicom(folder / "dicom")


def test_read_back_volume_is_the_in_memory_volume(canonical_case):
    case, _, vol = canonical_case
    assert vol.shape == case.volume.shape
    assert np.allclose(vol.affine, case.volume.affine, atol=1e-6)
    assert np.array_equal(vol.array, case.volume.array)


def test_landmarks_sit_on_their_structures_after_read_back(canonical_case):
    case, folder, vol = canonical_case
    lms = read_landmarks(folder / "landmarks.csv")
    labels = case.volume.meta["labels"]
    idx_all = np.stack(np.meshgrid(*[np.arange(n) for n in vol.shape], indexing="ij"), -1)
    for name, p in zip(lms.names, lms.coords):
        c = np.round(vol.lps_to_index(p)).astype(int)
        lo, hi = np.maximum(c - 4, 0), c + 5
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        near = np.linalg.norm(vol.index_to_lps(idx_all[box]) - p, axis=-1) <= 1.5
        if name == "S":
            assert hu_at(vol, p) < 300, "sella point is not in the fossa's soft tissue"
            below = [hu_at(vol, p - [0, 0, dz]) for dz in np.arange(0.5, 7.0, 0.5)]
            assert max(below) > 300, "no bone below sella within 7 mm"
            continue
        assert (vol.array[box][near] > 300).any(), f"{name}: no bone (> 300 HU) within 1.5 mm"
        want = LABELS[LANDMARK_STRUCTURE[name]]
        assert (labels[box][near] == want).any(), f"{name}: not on {LANDMARK_STRUCTURE[name]}"


def test_mirror_consistent_pairs_and_image_for_symmetric_canonical_head(canonical_case):
    case, _, vol = canonical_case
    lm = case.landmarks
    x_mid = np.mean([lm[n][0] for n in ("S", "N", "Ba", "ANS", "PNS", "Me")])
    assert np.ptp([lm[n][0] for n in ("S", "N", "Ba", "ANS", "PNS", "Me")]) < 1e-6
    for a, b in [("PoR", "PoL"), ("OrR", "OrL"), ("CoR", "CoL"), ("GoR", "GoL"), ("ZyR", "ZyL")]:
        mirrored = lm[a] * [-1, 1, 1] + [2 * x_mid, 0, 0]
        assert np.linalg.norm(mirrored - lm[b]) < 0.5, f"{a}/{b} not mirror images"
    flipped = case.volume.array[:, :, ::-1]
    # noise is not symmetric; compare a noise-free rendering of the same head
    clean = make_case(11, canonical=True, pixel_spacing=0.8, slice_spacing=1.0, size=300, noise=0).volume.array
    diff = np.abs(clean - clean[:, :, ::-1])
    assert diff.mean() < 0.5 and np.percentile(diff, 99.9) <= 5, "image not mirror-symmetric"
    assert np.abs(flipped - case.volume.array).mean() > 1.0  # (the noisy one is not)


def test_asymmetric_heads_are_not_mirror_images():
    worst = 0.0
    for seed in range(4):
        anatomy = make_case(seed, canonical=True, symmetric=False, **SMALL).anatomy
        lm = anatomy.landmarks
        for a, b in [("PoR", "PoL"), ("OrR", "OrL"), ("GoR", "GoL"), ("ZyR", "ZyL")]:
            worst = max(worst, float(np.linalg.norm(lm[a] * [-1, 1, 1] - lm[b])))
    assert worst > 0.5


def test_posed_oblique_uneven_case_round_trips_exactly(tmp_path):
    case = make_case(21, pose_deg=(9.0, -12.0, 6.0), oblique=True, tilt_deg=17.0, uneven=True, size=160,
                     pixel_spacing=1.3, slice_spacing=1.5, protocol="face", fov_cut=False, metal=False, labels=True)
    assert case.params["uneven_gaps"] and abs(case.params["tilt_deg"]) > 10
    gaps = np.unique(np.round(np.diff(case.geometry.distances), 4))
    assert len(gaps) == 2
    write_case(tmp_path / "c", case.seed, case=case)
    vol = read_dicom(tmp_path / "c" / "dicom")
    assert any("uneven" in n for n in vol.meta["notes"])
    assert not np.allclose(np.abs(vol.directions), np.eye(3), atol=0.05)  # really non-axial
    assert vol.shape == case.volume.shape
    assert np.allclose(vol.affine, case.volume.affine, atol=1e-6)
    assert np.array_equal(vol.array, case.volume.array)
    for ext in ("csv", "fcsv"):
        back = read_landmarks(tmp_path / "c" / f"landmarks.{ext}")
        assert back.names == case.landmarks.names
        assert np.array_equal(back.present, case.landmarks.present)
        assert np.abs(back.coords - case.landmarks.coords).max() < 0.01
    labels = case.volume.meta["labels"]
    assert back.present.all()  # fov_cut=False keeps every landmark in the field of view
    for name, p in zip([n for n, q in zip(back.names, back.present) if q], back.coords[back.present]):
        i_read = vol.lps_to_index(p)
        assert np.allclose(i_read, case.volume.lps_to_index(case.landmarks[name]), atol=1e-4)
        c = np.round(i_read).astype(int)
        box = tuple(slice(max(a - 1, 0), a + 2) for a in c)
        assert np.array_equal(vol.array[box], case.volume.array[box]), name
        assert np.isclose(hu_at(vol, p), hu_at(case.volume, case.landmarks[name]))
        if name != "S":
            near = tuple(slice(max(a - 2, 0), a + 3) for a in c)
            assert (labels[near] == LABELS[LANDMARK_STRUCTURE[name]]).any(), name


def test_thin_structures_visible_at_1mm():
    case = make_case(2, canonical=True, pixel_spacing=1.0, slice_spacing=1.0, size=240, noise=0)
    vol, lm = case.volume, case.landmarks
    for name, need in [("ZyR", 600), ("ZyL", 600), ("ANS", 400), ("CoR", 600), ("CoL", 600), ("PNS", 400)]:
        c = np.round(vol.lps_to_index(lm[name])).astype(int)
        box = tuple(slice(a - 2, a + 3) for a in c)
        assert vol.array[box].max() > need, f"{name}: max {vol.array[box].max():.0f} HU near the landmark"


def _digest(folder):
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, folder)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


def test_same_seed_gives_identical_bytes(tmp_path):
    a = generate_dataset(tmp_path / "a", cases=2, seed=4, **SMALL)
    b = generate_dataset(tmp_path / "b", cases=2, seed=4, **SMALL)
    da, db = _digest(a.parent), _digest(b.parent)
    assert da == db and len(da) > 10
    c = generate_dataset(tmp_path / "c", cases=2, seed=5, **SMALL)
    assert _digest(c.parent) != da
    v1, l1, p1 = generate_case(77, **SMALL)
    v2, l2, p2 = generate_case(77, **SMALL)
    assert np.array_equal(v1.array, v2.array) and l1.equals(l2) and p1 == p2


def test_manifest_rows_and_paths(tmp_path):
    manifest = generate_dataset(tmp_path / "ds", cases=3, seed=9, **SMALL)
    with open(manifest, newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == MANIFEST_COLUMNS
        rows = list(reader)
    assert [r["case_id"] for r in rows] == ["case_0000", "case_0001", "case_0002"]
    for r in rows:
        for key in ("dicom_dir", "landmarks", "landmarks_fcsv", "params"):
            assert not os.path.isabs(r[key]) and (manifest.parent / r[key]).exists()
        lms = read_landmarks(manifest.parent / r["landmarks"])
        assert int(r["n_present"]) == lms.present.sum()
        assert r["absent"] == ";".join(n for n, p in zip(lms.names, lms.present) if not p)
        vol, _, params = generate_case(int(r["seed"]), **SMALL)  # the seed column reproduces the case
        assert list(vol.shape) == params["volume_shape"] and int(r["slices"]) == params["slices"]
    assert read_manifest(manifest)["dicom_dir"].tolist()[0] == str((manifest.parent / "case_0000/dicom").resolve())
    assert not [p for p in os.listdir(manifest.parent) if p.startswith(".")]  # no temporary leftovers
    # extending the dataset keeps the earlier rows; the first cases are not rewritten
    before = (manifest.parent / "case_0000" / "landmarks.csv").stat().st_mtime_ns
    generate_dataset(manifest.parent, cases=1, seed=9, start=3, **SMALL)
    ids = read_manifest(manifest)["case_id"].tolist()
    assert ids == ["case_0000", "case_0001", "case_0002", "case_0003"]
    assert (manifest.parent / "case_0000" / "landmarks.csv").stat().st_mtime_ns == before


def test_cli_progress_summary_and_errors(tmp_path, capsys):
    rc = main(["--out", str(tmp_path / "o"), "--cases", "2", "--seed", "3", "--size", "96", "--pixel-spacing", "2.2",
               "--slice-spacing", "3", "--no-metal"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 0
    assert err[0].startswith("[1/2] case_0000 96x96x") and err[1].startswith("[2/2] case_0001")
    assert "2 case(s)" in err[-1] and "manifest" in err[-1]
    assert (tmp_path / "o" / "manifest.csv").is_file()
    for bad in (["--protocol", "nose"], ["--size", "5"], ["--cases", "0"]):
        with pytest.raises(SystemExit) as exc:
            main(["--out", str(tmp_path / "x")] + bad)
        assert exc.value.code == 2
    assert not (tmp_path / "x").exists()


def test_unknown_option_is_an_error():
    with pytest.raises(TypeError, match="unknown phantom option"):
        generate_case(0, spacing=1.0)
    with pytest.raises(ValueError, match="protocol"):
        generate_case(0, protocol="pelvis")


def test_manifest_of_landmark_files_only(tmp_path):
    from data.errors import InputError

    (tmp_path / "m.csv").write_text("case_id,landmarks\na,a/points.fcsv\n")
    df = read_manifest(tmp_path / "m.csv", require_scan=False)
    assert df["landmarks"].tolist() == [str((tmp_path / "a/points.fcsv").resolve())] and df["scan"].tolist() == [""]
    with pytest.raises(InputError, match="lacks column"):
        read_manifest(tmp_path / "m.csv")


def test_truth_csv_has_no_comment_line(tmp_path):
    """A plain ``pandas.read_csv`` of the truth file gives its columns (no ``# description`` junk column)."""
    import pandas as pd

    write_case(tmp_path / "c", 4, **SMALL)
    path = tmp_path / "c" / "landmarks.csv"
    assert not path.read_text().startswith("#")
    df = pd.read_csv(path)
    assert list(df.columns) == ["name", "x", "y", "z", "present", "description"]
    assert read_landmarks(path).names == df["name"].tolist()
    assert read_landmarks(tmp_path / "c" / "landmarks.fcsv").names == df["name"].tolist()
