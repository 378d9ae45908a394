"""The labelled real head CTs in ../shared/data (skipped when that folder is absent)."""
import numpy as np

from data.real_subjects import head_box, load_subject
from tests.conftest import shared_path


def test_headsq_in_hu_with_its_landmarks_on_bone():
    root = shared_path("ct", "headsq").parents[1]
    vol, lm = load_subject(root, "headsq")
    assert vol.shape == (93, 64, 64) and np.allclose(vol.spacing, [1.5, 3.2, 3.2])
    assert vol.array.min() == -1024.0  # air (raw 0)
    inside = vol.array[vol.array > -300]
    assert -100 < np.median(inside) < 200  # soft tissue near water
    assert lm.present.all() and vol.contains(lm.coords).all()
    k, i, j = np.round(vol.lps_to_index(lm.coords[[lm.index("Me")]])[0]).astype(int)
    assert vol.array[max(k - 2, 0):k + 3, i - 2:i + 3, j - 2:j + 3].max() > 300  # bone at menton


def test_head_box_keeps_every_landmark_and_cuts_the_shoulders():
    root = shared_path("ct", "visible-human-male").parents[1]
    vol, lm = load_subject(root, "visible-human-male")
    box = head_box(vol, lm, 60.0)
    assert box.contains(lm.coords).all()
    assert box.array.size < 0.3 * vol.array.size
    k, i, j = np.round(box.lps_to_index(lm.coords[:1])[0]).astype(int)
    k0, i0, j0 = np.round(vol.lps_to_index(lm.coords[:1])[0]).astype(int)
    assert box.array[k, i, j] == vol.array[k0, i0, j0]
