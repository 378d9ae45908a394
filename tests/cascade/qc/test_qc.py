"""QC images: slices through each landmark (right pixel, physical aspect, outside points) and index.html."""
import html
import re
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest

from cascade.canonical import to_canonical
from cascade.qc.overview import CT_WINDOW_HU, display_window
from cascade.qc.index import write_index
from cascade.qc.slices import landmark_figure, landmark_figures, landmark_filenames, slice_views
from data.landmarks import LandmarkSet
from data.volume import Volume, affine_from_geometry

SHAPE = (24, 40, 50)
BLOB = (9, 23, 31)  # voxel (k, i, j) of the bright blob's centre


def tilt(v, degrees=8.0):
    """``v`` rotated about the LPS x axis (an oblique acquisition)."""
    a = np.radians(degrees)
    rot = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    return rot @ np.asarray(v, float)


@pytest.fixture(scope="module")
def blob_volume():
    """Sagittal-like acquisition (k runs left->right, rows inferior, columns anterior), tilted 8 degrees,
    anisotropic voxels, air background and a bright bone blob at ``BLOB``."""
    affine = affine_from_geometry((-30.0, 40.0, 60.0), tilt((-1, 0, 0)), tilt((0, 0, -1)), tilt((0, -1, 0)),
                                  (3.0, 0.8, 1.1))
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij"), axis=-1).astype(float)
    mm = (idx - BLOB) * np.array([3.0, 0.8, 1.1])
    array = -1000.0 + 2500.0 * np.exp(-(mm ** 2).sum(-1) / (2 * 4.0 ** 2))
    vol = Volume(array.astype(np.float32), affine, {"modality": "CT"})
    return vol, vol.index_to_lps(BLOB)


def test_brightest_pixel_of_each_slice_is_the_marker(blob_volume):
    vol, point = blob_volume
    # the point a third of a voxel off the blob's centre: planes are interpolated between voxels
    point = vol.index_to_lps(np.asarray(BLOB) + 0.3)
    views = slice_views(vol, point, fov_mm=40.0)
    assert [v.name for v in views] == ["axial", "coronal", "sagittal"]
    for v in views:
        assert v.image is not None
        peak = np.unravel_index(np.argmax(v.image), v.image.shape)
        assert peak == tuple(int(round(x)) for x in v.pixel), v.name
        # physical aspect: the extent is the image size times the voxel size, the point at (0, 0) mm
        left, right, bottom, top = v.extent
        assert right - left == pytest.approx(v.image.shape[1] * v.spacing[2])
        assert top - bottom == pytest.approx(v.image.shape[0] * v.spacing[1])
        x = left + (v.pixel[1] + 0.5) * v.spacing[2]
        y = top - (v.pixel[0] + 0.5) * v.spacing[1]
        assert (x, y) == pytest.approx((0.0, 0.0), abs=1e-9)
        # zoomed to the field of view (plus at most one voxel on each side)
        assert right - left <= 40.0 + 2 * v.spacing[2] + 1e-9 and top - bottom <= 40.0 + 2 * v.spacing[1] + 1e-9


def test_planes_are_canonical_and_oriented(blob_volume):
    vol, point = blob_volume
    can = to_canonical(vol)
    views = slice_views(vol, point, fov_mm=60.0)
    assert [v.axes[0] for v in views] == [0, 1, 2]  # normal to the plane: superior, posterior, left
    # a truth 5 mm along canonical k (superior) is 5 mm off the axial plane and 5 mm up in the others
    up_dir = can.affine[:3, 0] / np.linalg.norm(can.affine[:3, 0])
    delta = can.lps_to_index(point + 5 * up_dir) - can.lps_to_index(point)
    assert views[0].project(delta) == pytest.approx((0, 0, 5))
    assert views[1].project(delta) == pytest.approx((0, 5, 0))
    assert views[2].project(delta) == pytest.approx((0, 5, 0))
    # left is on the image's right in axial and coronal (radiological), posterior on the right in sagittal
    left_dir = can.affine[:3, 2] / np.linalg.norm(can.affine[:3, 2])
    post_dir = can.affine[:3, 1] / np.linalg.norm(can.affine[:3, 1])
    assert views[0].project(can.lps_to_index(point + 4 * left_dir) - can.lps_to_index(point))[0] == pytest.approx(4)
    assert views[2].project(can.lps_to_index(point + 4 * post_dir) - can.lps_to_index(point))[0] == pytest.approx(4)
    assert views[0].project(can.lps_to_index(point + 4 * post_dir) - can.lps_to_index(point))[1] == pytest.approx(-4)


def coloured_pixels(path: Path, rgb: tuple[float, float, float]) -> int:
    import matplotlib.image

    img = matplotlib.image.imread(path)[..., :3]
    return int((np.abs(img - np.asarray(rgb)).max(axis=-1) < 0.25).sum())


def test_landmark_figure_draws_prediction_and_truth(blob_volume, tmp_path):
    vol, point = blob_volume
    path = landmark_figure(vol, "S", point, tmp_path / "S.png", truth_point=point + [2.0, -1.0, 3.0])
    assert path.is_file() and path.stat().st_size > 5000
    assert coloured_pixels(path, (1, 0, 0)) > 20  # red prediction markers
    assert coloured_pixels(path, (0, 1, 0)) > 20  # green (lime) truth markers


@pytest.mark.parametrize("where", ["far", "beside", "nan"])
def test_point_outside_the_scan_still_gives_an_image(blob_volume, tmp_path, where):
    vol, point = blob_volume
    p = {"far": point + [0, 0, 500.0], "beside": to_canonical(vol).index_to_lps([5, 20, -6]),
         "nan": np.full(3, np.nan)}[where]
    assert not vol.contains(p)
    views = slice_views(vol, p)
    # just past the scan's edge the slices still show the part that is there; far away nothing
    assert any(v.image is not None for v in views) == (where == "beside")
    path = landmark_figure(vol, "Me", p, tmp_path / "Me.png", truth_point=point)
    assert path.is_file() and path.stat().st_size > 3000


def test_landmark_figures_one_png_per_landmark(blob_volume, tmp_path):
    vol, point = blob_volume
    pred = LandmarkSet(["S", "Po/R", "far"], [point, point + 2, point + 900])
    truth = LandmarkSet(["Po/R", "S", "other"], [point, point, point], [True, False, True])
    written = landmark_figures(vol, pred, tmp_path / "qc", truth)
    assert {n: p.name for n, p in written.items()} == {"S": "S.png", "Po/R": "Po_R.png", "far": "far.png"}
    assert all(p.is_file() for p in written.values())
    assert sorted(q.name for q in (tmp_path / "qc").iterdir()) == ["Po_R.png", "S.png", "far.png"]  # no temp files


def test_landmark_filenames_safe_and_unique():
    assert landmark_filenames(["S", "Po R", "Po_R", "../x", "", "po_r"]) == [
        "S.png", "Po_R.png", "Po_R-2.png", "_x.png", "landmark.png", "po_r-3.png"]


def test_display_window_ct_and_other(blob_volume):
    vol, _ = blob_volume
    assert display_window(vol) == CT_WINDOW_HU
    nifti_ct = Volume(vol.array, vol.affine, {"modality": "MR"})  # NIfTI has no modality: HU values decide
    assert display_window(nifti_ct) == CT_WINDOW_HU
    rng = np.random.default_rng(0)
    mri = Volume(rng.uniform(0, 800, SHAPE).astype(np.float32), vol.affine, {"modality": "MR"})
    lo, hi = display_window(mri)
    assert 0 <= lo < hi <= 800


def write_case(out: Path, case: str, errors: str | None, images: bool) -> None:
    folder = out / case
    (folder / "qc").mkdir(parents=True)
    (folder / "landmarks.csv").write_text("name,x,y,z,present,inside\nS,1,2,3,yes,yes\nMe,4,5,6,no,no\n")
    if errors is not None:
        (folder / "errors.csv").write_text(errors)
    if images:
        for name in ("qc_overview.png", "qc/S.png", "qc/Me.png"):
            (folder / name).write_bytes(b"\x89PNG")


def test_index_lists_cases_errors_and_links(tmp_path):
    out = tmp_path / "out"
    # another engineer may add columns (and reorder them): only landmark, phase, error_mm are read
    write_case(out, "case1", "phase,landmark,sdr_2mm,error_mm\n1,S,no,10.0\n1,Me,no,20.0\n3,S,yes,1.25\n3,Me,no,"
                             "2.75\n", images=True)
    write_case(out, "<a&b>", "landmark,phase,error_mm\nS,1,7.5\n", images=True)
    write_case(out, "noqc", None, images=False)
    rows = [{"case": "case1", "scan": "scans/1", "read_s": 0.25, "predict_s": 2.5, "landmarks": 2, "outside_scan": 1},
            {"case": "<a&b>", "scan": "scans/<a&b>", "read_s": 0.5, "predict_s": 3.0, "landmarks": 2,
             "outside_scan": 0},
            {"case": "noqc", "scan": "scans/noqc", "read_s": 0.5, "predict_s": 3.0, "landmarks": 2, "outside_scan": 0},
            {"case": "bad", "scan": "scans/bad", "error": "scans/bad: no DICOM files <here>"}]
    path = write_index(out, rows)
    assert path == out / "index.html"
    text = path.read_text(encoding="utf-8")
    assert "<a&b>" not in text and "&lt;a&amp;b&gt;" in text
    assert "scans/bad: no DICOM files &lt;here&gt;" in text
    for case in ("case1", "noqc", "bad"):
        assert f">{case}</a>" in text
    assert all(x in text for x in ("15.00", "2.00", "10.00", "20.00", "1.25", "2.75", "7.50"))  # means and errors
    assert "<td>2.50</td>" in text and "<td>1</td>" in text  # predict seconds, outside_scan
    links = re.findall(r'(?:href|src)="([^"#]+)"', text)
    assert len(links) == 2 * 2 * 3  # two cases with images: overview + 2 landmarks, each as link and thumbnail
    for link in links:
        assert not link.startswith("/") and (out / unquote(html.unescape(link))).is_file(), link
    assert not list(out.glob(".index.html*"))  # atomic write left no temporary file


def test_index_from_summary_csv(tmp_path):
    write_case(tmp_path, "c1", "landmark,phase,error_mm\nS,1,3.0\n", images=False)
    (tmp_path / "summary.csv").write_text("case,scan,read_s,predict_s,landmarks,outside_scan,error\n"
                                          "c1,s1,0.1,1.0,2,0,\nc2,s2,,,,,c2: bad scan\n")
    text = write_index(tmp_path).read_text()
    assert "c1" in text and "c2: bad scan" in text and "3.00" in text and ">nan<" not in text


class KnownOffsets:
    """Stand-in for a trained cascade (no model loading): the truth moved 8, 4, 2 mm along x after
    phases 1, 2, 3, and menton's final estimate 400 mm below the scan."""

    def __init__(self, truth: LandmarkSet) -> None:
        self.truth = truth

    def predict(self, vol: Volume):
        from cascade.predict import Prediction

        est = np.stack([self.truth.coords + [d, 0.0, 0.0] for d in (8.0, 4.0, 2.0)])
        est[2, self.truth.index("Me"), 2] -= 400.0
        return Prediction(self.truth.names, est, vol.contains(est[2]), {"phase1": 0.1})


def test_run_pipeline_qc(tmp_path, monkeypatch):
    """run_pipeline --qc on a small generated DICOM case plus a bad scan: QC images and index.html."""
    from cascade.pipeline import cli as run_pipeline
    from cascade.bundle import DEMO_BUNDLE
    from cascade.predict import Cascade
    from data.landmark_io import read_landmarks
    from data.phantom import write_case as write_phantom

    row = write_phantom(tmp_path / "in" / "head", 5, size=96, pixel_spacing=2.4, slice_spacing=3.0, fov_cut=False,
                        metal=False, uneven=False, oblique=False)
    truth = tmp_path / "in" / row["landmarks"]
    monkeypatch.setattr(Cascade, "load", classmethod(lambda cls, path, coarse=None, **kw: KnownOffsets(read_landmarks(truth))))
    bad = tmp_path / "in" / "empty"
    bad.mkdir()
    out = tmp_path / "out"
    code = run_pipeline.main([str(tmp_path / "in" / row["dicom_dir"]), str(bad), "--truth", str(truth), "--truth", str(truth),
                              "--out", str(out), "--qc", "--quiet"])
    assert code == 2  # the empty folder failed, the other scan was processed
    case = out / "head"
    assert (case / "qc_overview.png").is_file() and (case / "errors.csv").is_file()
    names = read_landmarks(truth).names
    assert sorted(p.name for p in (case / "qc").glob("*.png")) == sorted(f"{n}.png" for n in names)
    text = (out / "index.html").read_text()
    assert '<a href="head/qc/S.png">' in text and '<a href="head/qc_overview.png">' in text
    assert "<td>8.00</td><td>4.00</td><td>2.00</td>" in text  # S's errors per phase
    assert ">empty</a>" in text and "empty: folder is empty" in text  # the failed scan and its error
    assert "<td>1</td>" in text  # one landmark outside the scan


def _boxes_overlap(a, b) -> bool:
    return min(a.x1, b.x1) > max(a.x0, b.x0) and min(a.y1, b.y1) > max(a.y0, b.y0)


def test_overview_labels_of_close_landmarks_do_not_overlap(blob_volume):
    """Po, Co and Zy lie a few mm apart: their labels are moved apart (issue 13)."""
    from cascade.qc.overview import _renderer, overview

    vol, point = blob_volume
    names = ["PoR", "CoR", "ZyR", "PoL", "CoL"]
    offsets = [[0, 0, 0], [1.5, 1.0, -1.0], [-1.0, 2.0, 1.0], [2.5, -1.0, 0.5], [0.5, 2.5, 2.0]]
    pred = LandmarkSet(names, [point + o for o in offsets])
    fig = overview(vol, pred, truth=pred)
    renderer = _renderer(fig)
    for ax in fig.axes:
        labels = [t for t in ax.texts if t.get_text() in names]
        assert len(labels) == len(names)
        boxes = [t.get_window_extent(renderer) for t in labels]
        assert not any(_boxes_overlap(a, b) for n, a in enumerate(boxes) for b in boxes[n + 1:]), ax.get_title()


def test_overview_panels_carry_orientation_letters(blob_volume):
    """Letters as displayed: frontal R|L and S over I, lateral A|P, axial R|L and A over P (LPS geometry)."""
    from cascade.qc.overview import overview

    vol, point = blob_volume
    fig = overview(vol, LandmarkSet(["S"], [point]))
    expected = {"frontal": ("R", "L", "S", "I"), "lateral": ("A", "P", "S", "I"), "axial": ("R", "L", "A", "P")}
    for ax in fig.axes:
        letters = {t.get_text(): t.get_position() for t in ax.texts if len(t.get_text()) == 1}
        left, right, top, bottom = expected[ax.get_title().split()[0]]
        assert {left, right, top, bottom} <= set(letters), ax.get_title()
        assert letters[left][0] < 0.5 < letters[right][0] and letters[bottom][1] < 0.5 < letters[top][1]


def test_edge_letters_follow_the_geometry():
    from cascade.qc.overview import edge_letters

    flipped = np.diag([-1.0, 1.0, 1.0, 1.0])  # axis 0 runs to the patient's right
    assert edge_letters(flipped, rows=2, cols=0, rows_up=True) == ("L", "R", "S", "I")
    assert edge_letters(np.eye(4), rows=1, cols=0, rows_up=False) == ("R", "L", "A", "P")


def test_slice_truth_label_stays_inside_its_panel(blob_volume, tmp_path):
    """A truth near the top edge of the view: its distance label is inside the axes, not over the titles."""
    from cascade.qc.overview import _renderer
    from cascade.qc.slices import FOV_MM, _Renderer, _write

    vol, point = blob_volume
    can = to_canonical(vol)
    up = can.affine[:3, 0] / np.linalg.norm(can.affine[:3, 0])
    left = can.affine[:3, 2] / np.linalg.norm(can.affine[:3, 2])
    renderer = _Renderer(FOV_MM, CT_WINDOW_HU, 80)
    for truth in (point + 38 * up + 4 * left, point + 38 * up + 37 * left):
        _write(renderer, can, "S", point, tmp_path / "S.png", truth, FOV_MM, "")
        drawn = _renderer(renderer.fig)
        shown = 0
        for ax, _img, _truth, label, *_rest in renderer.panels:
            if not label.get_text():
                continue
            shown += 1
            box, inside = label.get_window_extent(drawn), ax.get_window_extent(drawn)
            assert inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1
        assert shown >= 2  # coronal and sagittal (the axial plane has the truth 38 mm off it, outside)
    renderer.close()
