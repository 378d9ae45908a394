"""Distance to the nearest bone (``cascade.bone_distance``): synthetic blocks, geometry, modality, real CTs."""
from types import SimpleNamespace

import threading

import numpy as np
import pytest

from cascade.bone_distance import (FAR_MM, bone_distance, bone_distances, checks_bone, ct_trained, scan_is_ct)
from cascade.config import CascadeConfig, with_intensity
from cascade.predict import Prediction
from data.volume import Volume


def block_ct(spacing=(1.0, 1.0, 1.0), shape=(60, 60, 60), modality="CT") -> Volume:
    """Air (-1000 HU) with a bone block (1000 HU) over indices 20..39 on every axis; origin 0."""
    arr = np.full(shape, -1000.0, np.float32)
    arr[20:40, 20:40, 20:40] = 1000.0
    return Volume(arr, np.diag([*spacing, 1.0]), {"modality": modality, "source": "block"})


def test_point_on_bone_is_ok_and_point_in_air_is_far():
    vol = block_ct()
    on = vol.index_to_lps([30, 30, 39.5])  # half a voxel off the block's face
    air = vol.index_to_lps([30, 30, 39 + 30])  # 30 mm beyond the face, outside the box: clipped search
    air_inside = vol.index_to_lps([30, 30, 5])  # 15 mm in front of the face, inside the scan
    d = bone_distances(vol, np.array([on, air_inside]))
    assert d[0] == pytest.approx(0.5) and d[1] == pytest.approx(15.0)
    assert bone_distance(Volume(vol.array[:, :, :45], vol.affine), air) == pytest.approx(30.0)
    pred = Prediction(["on", "air"], np.stack([np.array([on, air_inside])] * 3), np.array([True, True]), bone_mm=d)
    lm = pred.landmark_set(vol)
    assert lm.extra["state"] == ["ok", "far_from_bone"]
    assert lm.extra["note"][1] == f"15 mm from the nearest bone (threshold {FAR_MM:g} mm)"


def test_no_bone_within_the_search_radius_is_infinite():
    vol = block_ct()
    vol.array[:] = -1000
    assert bone_distance(vol, [30.0, 30.0, 30.0]) == np.inf
    assert bone_distance(block_ct(), [np.nan, 0, 0]) == np.inf


@pytest.mark.parametrize("spacing", [(3.0, 0.5, 0.5), (0.5, 2.0, 1.0)])
def test_anisotropic_spacing_is_measured_in_mm(spacing):
    vol = block_ct(spacing, shape=(60, 60, 60))
    for axis in range(3):
        idx = np.array([30.0, 30.0, 30.0])
        idx[axis] = 39 + 8  # 8 voxels beyond the block's last layer along this axis
        assert bone_distance(vol, vol.index_to_lps(idx)) == pytest.approx(8 * spacing[axis])


def test_oblique_sheared_grid():
    """A tilted (sheared) grid: the nearest voxel is found through the affine, not the index box."""
    arr = np.full((40, 40, 40), -1000.0, np.float32)
    arr[20, 20, 20] = 1000.0
    aff = np.eye(4)
    aff[:3, :3] = [[0.8, 0.0, 0.0], [0.6, 0.5, 0.0], [0.0, 0.0, 0.7]]  # k axis tilted 37 degrees
    vol = Volume(arr, aff, {"modality": "CT"})
    bone = vol.index_to_lps([20, 20, 20])
    for offset in ([6.0, 0, 0], [0, -7.0, 0], [0, 0, 9.0], [3.0, 4.0, 5.0]):
        p = bone + np.array(offset)
        want = np.linalg.norm(offset)
        assert bone_distance(vol, p) == pytest.approx(want, abs=1e-9)


def test_only_ct_trained_bundles_on_ct_are_checked():
    ct_config, mr_config = CascadeConfig(), with_intensity(CascadeConfig(), "intensity")
    assert ct_trained(ct_config) and not ct_trained(mr_config) and not ct_trained(None)
    ct, mr_dicom = block_ct(), block_ct(modality="MR")
    assert checks_bone(ct_config, ct)
    assert not checks_bone(mr_config, ct)  # an MRI bundle: never flagged
    assert not checks_bone(ct_config, mr_dicom)  # a DICOM MR series: never flagged
    mr_nifti = Volume(np.abs(ct.array), ct.affine, {"modality": "MR", "source": "scan.nii.gz"})
    ct_nifti = Volume(ct.array, ct.affine, {"modality": "MR", "source": "scan.nii.gz"})  # data.nifti's default
    assert not scan_is_ct(mr_nifti) and scan_is_ct(ct_nifti)


def test_cascade_predict_records_bone_distances_only_on_ct(monkeypatch):
    """``Cascade.predict`` attaches ``bone_mm`` for a CT-trained bundle on a CT, None on MR (no TensorFlow)."""
    from cascade.predict import Cascade

    vol = block_ct()
    point = vol.index_to_lps([30, 30, 5])
    fake = Cascade.__new__(Cascade)
    fake.bundle = SimpleNamespace(names=["P"], config=CascadeConfig())
    fake.case = lambda volume: None
    fake._coarse = lambda case, volume: np.array([point])
    fake.run_stage = lambda phase, case, previous: previous
    fake.last_phase = lambda case, previous: (previous, np.empty((0,) + previous.shape))
    fake.confidence = lambda est, shifted, start=None: (None, None)  # no networks: no test-time crops
    fake.starts = "phase2"
    fake._lock = threading.Lock()
    pred = fake.predict(vol)
    assert pred.bone_mm.tolist() == [pytest.approx(15.0)]
    assert fake.predict(block_ct(modality="MR")).bone_mm is None
    fake.bundle = SimpleNamespace(names=["P"], config=with_intensity(CascadeConfig(), "intensity"))
    assert fake.predict(vol).bone_mm is None


def test_true_landmarks_of_the_labelled_real_cts_are_near_bone():
    """Every true landmark of the three labelled real CTs lies well within FAR_MM of bone."""
    from data.real_subjects import SUBJECTS, default_root, load_subject

    root = default_root()
    if not (root / "ct").is_dir():
        pytest.skip(f"labelled real CTs not available ({root / 'ct'} is absent)")
    for name in SUBJECTS:
        vol, lm = load_subject(root, name)
        assert scan_is_ct(vol)
        d = bone_distances(vol, lm.coords[lm.present])
        assert d.max() < FAR_MM / 2 + 0.5, (name, d.max())


def test_phantom_truth_is_near_bone():
    from data.phantom import generate_case

    vol, lm, _ = generate_case(3, size=128, pixel_spacing=1.8, slice_spacing=2.5)
    assert scan_is_ct(vol)
    assert bone_distances(vol, lm.coords[lm.present]).max() < FAR_MM / 2
