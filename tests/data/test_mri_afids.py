"""Real AFIDs data (Slicer 4.6 .fcsv in RAS, MNI2009c and Colin27 T1 images) from ../shared/data.

Skipped when the shared data folder beside the checkout is absent.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data.landmark_defs import load_definition
from data.landmark_io import read_landmarks
from data.landmarks import LandmarkSet
from data.nifti import read_nifti
from data.volume import Volume

MRI = Path(__file__).resolve().parents[3] / "shared" / "data" / "mri"
MNI_FCSV = MRI / "mni2009c" / "tpl-MNI152NLin2009cAsym_res-01_desc-groundtruth_afids.fcsv"
MNI_T1 = MRI / "mni2009c" / "tpl-MNI152NLin2009cAsym_res-01_T1w.nii.gz"
COLIN_FCSV = MRI / "colin27" / "Colin27_MEAN.fcsv"
COLIN_T1 = MRI / "colin27" / "ch2.nii.gz"
RATERS = sorted((MRI / "colin27" / "raters").glob("*.fcsv"))

pytestmark = pytest.mark.skipif(not MNI_FCSV.is_file() or not COLIN_T1.is_file(),
                                reason=f"shared AFIDs MRI data not found under {MRI}")

BRAIN_FRACTION = 0.2  # "in the head": 5x5x5 mean above 20 % of the 99th-percentile intensity


@pytest.fixture(scope="module")
def scans() -> dict[str, tuple[Volume, LandmarkSet, float]]:
    """Per scan: volume, landmarks, and the "bright" threshold (BRAIN_FRACTION x 99th percentile)."""
    out = {}
    for scan, image, fcsv in [("mni2009c", MNI_T1, MNI_FCSV), ("colin27", COLIN_T1, COLIN_FCSV)]:
        vol = read_nifti(image)
        out[scan] = (vol, read_landmarks(fcsv), BRAIN_FRACTION * float(np.percentile(vol.array, 99)))
    return out


def in_head(vol: Volume, point: np.ndarray, threshold: float) -> bool:
    """Inside the volume (2 voxels from the border) and the 5x5x5 mean around the point > threshold."""
    if not vol.contains(point, margin_vox=-2):
        return False
    k, i, j = np.round(vol.lps_to_index(point)).astype(int)
    return bool(vol.array[k - 2:k + 3, i - 2:i + 3, j - 2:j + 3].mean() > threshold)


def test_all_afids_files_load() -> None:
    files = [MNI_FCSV, COLIN_FCSV, *RATERS]
    assert len(RATERS) == 32
    names = [str(n) for n in range(1, 33)]
    for path in files:
        lm = read_landmarks(path)
        assert lm.names == names, path
        assert lm.present.all() and np.isfinite(lm.coords).all(), path


def test_mni_ac_converted_from_ras() -> None:
    lm = read_landmarks(MNI_FCSV)
    assert lm.descriptions[:2] == ["AC", "PC"]
    np.testing.assert_allclose(lm["1"], [0.204861407692308, -2.72288076923077, -4.88105282051282], rtol=0, atol=1e-12)
    np.testing.assert_allclose(lm["2"], [0.00726026948717949, 25.0450538461538, -2.21068230769231], atol=1e-12)


def test_definition_full_names_match_ground_truth_desc() -> None:
    assert load_definition("afids32").full_names == read_landmarks(MNI_FCSV).descriptions


def test_right_landmarks_are_on_patient_right_in_lps() -> None:
    """LPS x grows toward the patient's left: every 'R ...' AFID has x < 0, every 'L ...' x > 0,
    in all files (fails if the RAS->LPS flip were missing)."""
    d = load_definition("afids32")
    side = np.array([f[:2] for f in d.full_names])
    for path in [MNI_FCSV, COLIN_FCSV, *RATERS]:
        x = read_landmarks(path).coords[:, 0]
        assert (x[side == "R "] < 0).all() and (x[side == "L "] > 0).all(), path


def test_colin_mean_is_mean_of_raters() -> None:
    raters = np.array([read_landmarks(p).coords for p in RATERS])
    np.testing.assert_allclose(raters.mean(axis=0), read_landmarks(COLIN_FCSV).coords, atol=1e-9)


@pytest.mark.parametrize("scan", ["mni2009c", "colin27"])
def test_ac_pc_inside_the_head(scans, scan: str) -> None:
    vol, lm, bright = scans[scan]
    assert vol.shape in [(193, 229, 193), (181, 217, 181)] and np.allclose(vol.spacing, 1)
    for name in ("1", "2"):  # AC, PC
        assert in_head(vol, lm[name], bright), f"{scan} landmark {name}"
        # the same check fails 110 mm above the point (air over the vertex, still in the volume)
        above = lm[name] + [0, 0, 110]
        assert vol.contains(above) and not in_head(vol, above, bright), f"{scan} landmark {name} + 110 mm superior"
        # and 150 mm to the patient's left, out of the scanned box
        assert not in_head(vol, lm[name] + [150, 0, 0], bright)


@pytest.mark.parametrize("scan", ["mni2009c", "colin27"])
def test_all_32_afids_inside_the_head(scans, scan: str) -> None:
    vol, lm, bright = scans[scan]
    outside = [n for n, p in zip(lm.names, lm.coords) if not in_head(vol, p, bright)]
    assert outside == []
