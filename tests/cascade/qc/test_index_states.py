"""index.html shows each landmark's state (flagged points first and marked) and the scan's reader notes
(issue 13, items 1 and 8); no TensorFlow needed."""
import re

import numpy as np

from cascade.qc.index import CaseView, write_index
from data.landmarks import LandmarkSet

NAMES = ["S", "N", "Me", "PoR"]


def prediction(states=True) -> LandmarkSet:
    extra = {"inside": ["yes", "yes", "no", "yes"]}
    if states:
        extra.update(state=["ok", "ok", "outside_scan", "far_from_bone"],
                     note=["", "", "below the last slice", "34 mm from bone"])
    return LandmarkSet(NAMES, np.arange(12.0).reshape(4, 3), extra=extra)


def landmark_rows(text: str) -> list[str]:
    """The rows of the case's landmark table, in order (their first cell: the landmark name)."""
    section = text.split('<h2 id="case-0">', 1)[1]
    return re.findall(r'<tr(?: class=flagged)?><td class="t">([^<]+)</td>', section)


def test_flagged_landmarks_come_first_with_state_and_note(tmp_path):
    rows = [{"case": "c1", "scan": "scans/c1", "landmarks": 4, "outside_scan": 1, "far_from_bone": 1,
             "notes": "gantry tilt of 18.5 deg corrected, grid widened to 611x512 | uneven slice gaps resampled"}]
    text = write_index(tmp_path, rows, views={"c1": CaseView.of(prediction())}).read_text()
    assert landmark_rows(text) == ["Me", "PoR", "S", "N"]  # flagged first, each group in the file's order
    assert text.count("<tr class=flagged>") == 2
    assert "\u26a0 outside_scan" in text and "\u26a0 far_from_bone" in text and "flagged:</b> Me, PoR" in text
    assert "below the last slice" in text and "34 mm from bone" in text
    assert "<li>gantry tilt of 18.5 deg corrected, grid widened to 611x512</li>" in text
    assert "<li>uneven slice gaps resampled</li>" in text
    assert "<th>far from bone</th>" in text


def test_states_are_read_back_from_landmarks_csv(tmp_path):
    from data.landmark_io import write_landmarks

    write_landmarks(tmp_path / "c1" / "landmarks.csv", prediction())
    text = write_index(tmp_path, [{"case": "c1", "scan": "s"}]).read_text()
    assert landmark_rows(text) == ["Me", "PoR", "S", "N"] and "34 mm from bone" in text


def test_a_prediction_without_states_is_still_shown(tmp_path):
    text = write_index(tmp_path, [{"case": "c1", "scan": "s"}],
                       views={"c1": CaseView.of(prediction(states=False))}).read_text()
    assert landmark_rows(text) == ["Me", "S", "N", "PoR"]  # outside the scan: flagged as outside_scan
    assert text.count("<tr class=flagged>") == 1 and "Reader notes" not in text and "far from bone" not in text


def test_uncertain_points_and_uncertainty_column(tmp_path):
    """Issue 12: an uncertain point is flagged like the others, its uncertainty in its own column,
    read the same from memory and from landmarks.csv; the summary shows the review count."""
    from data.landmark_io import write_landmarks

    lm = prediction()
    lm.extra["state"][1] = "uncertain"
    lm.extra["note"][1] = "uncertainty 7.5 mm > 4 mm"
    lm.extra["uncertainty_mm"] = [1.234, 7.5, 3.0, 2.0]
    row = {"case": "c1", "scan": "s", "landmarks": 4, "review": 3, "uncertain": 1}
    for views in ({"c1": CaseView.of(lm)}, None):
        write_landmarks(tmp_path / "c1" / "landmarks.csv", lm)
        text = write_index(tmp_path, [row], views=views).read_text()
        assert landmark_rows(text) == ["N", "Me", "PoR", "S"]
        assert "\u26a0 uncertain" in text and "uncertainty 7.5 mm &gt; 4 mm" in text
        assert "<th>uncertainty (mm)</th>" in text and "<td>1.23</td>" in text
        assert "<th>to review</th>" in text
