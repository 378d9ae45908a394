"""The documentation figure and the speed benchmark run (small, fast settings)."""
import subprocess
import sys
from pathlib import Path

import numpy as np

from data.phantom import make_case
from data.phantom.preview import display, render

ROOT = Path(__file__).resolve().parents[3]


def test_render_writes_a_png(tmp_path):
    case = make_case(4, canonical=True, size=110, pixel_spacing=2.0, slice_spacing=3.0, noise=0)
    out = render(case, tmp_path / "fig" / "p.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_display_mapping_orders_tissues():
    g = display(np.array([-1000.0, -90.0, 40.0, 1500.0]))
    assert np.all(np.diff(g) > 0.1) and g[0] == 0.0 and g[-1] <= 1.0


def test_docs_figure_is_committed():
    png = ROOT / "docs" / "phantom_example.png"
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"


def test_benchmark_script_quick_mode():
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "phantom_speed.py"), "--quick", "--cases", "1"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "s/case" in res.stdout and "peak" in res.stdout
