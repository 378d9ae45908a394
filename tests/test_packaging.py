"""``pip install .``: the wheel holds the three packages, the shipped bundles and the ``landmark-cascade`` command."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    src = build / "src"  # a copy: building writes build/ and *.egg-info beside the sources
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", "work", "output", "build", "*.egg-info",
                                                              "__pycache__", ".pytest_cache"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(src),
                        "-w", str(out)], capture_output=True, text=True, timeout=600,
                       env={"PATH": "/usr/bin:/bin", "HOME": str(build), "TMPDIR": str(build)})
    if r.returncode and "No module named" in r.stderr and "setuptools" in r.stderr:
        pytest.skip("setuptools is not installed: cannot build the wheel here")
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = out.glob("*.whl")
    return zipfile.ZipFile(whl)


def test_wheel_has_the_packages_and_no_tests(wheel):
    tops = {n.split("/")[0] for n in wheel.namelist()}
    assert {"cascade", "phases", "data"} <= tops
    assert "tests" not in tops and "bench" not in tops


def test_wheel_ships_the_bundles_and_landmark_sets(wheel):
    names = set(wheel.namelist())
    for bundle in ("demo", "craniofacial"):
        assert {f"cascade/models/{bundle}/{f}" for f in ("bundle.json", "phase2.keras", "phase3.keras")} <= names
    assert "cascade/models/craniofacial/atlases/headsq.npz" in names
    assert {"data/landmark_sets/craniofacial16.csv", "data/landmark_codes.csv"} <= names


def test_wheel_declares_the_command_and_the_dependencies(wheel):
    entry = next(n for n in wheel.namelist() if n.endswith("entry_points.txt"))
    assert "landmark-cascade = cascade.cli:main" in wheel.read(entry).decode()
    meta = wheel.read(next(n for n in wheel.namelist() if n.endswith("METADATA"))).decode()
    for dep in ("tensorflow", "keras", "pydicom", "opencv-python-headless", "scikit-posthocs", "SimpleITK"):
        assert f"Requires-Dist: {dep}" in meta
