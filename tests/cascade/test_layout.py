"""The layout's promises: what imports without TensorFlow, which way the packages depend, the CLI."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK_TF = ("import sys\nclass _NoTF:\n    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('tensorflow', 'keras'):\n"
            "            raise ImportError('blocked for this test: ' + name)\n"
            "sys.meta_path.insert(0, _NoTF())\n")
TF_FREE = ["cascade", "cascade.config", "cascade.schema", "cascade.stages", "cascade.bundle", "cascade.case",
           "cascade.evaluation", "cascade.evaluation.cli", "cascade.evaluation.metrics", "cascade.evaluation.statistics",
           "cascade.evaluation.report", "cascade.evaluation.figures", "cascade.qc", "cascade.qc.overview",
           "cascade.qc.slices", "cascade.qc.index", "cascade.coarse.atlas", "cascade.pipeline.naming", "cascade.cli",
           "data.augment.spatial", "data.augment.ct", "data.augment.training_set", "data.phantom", "data.load"]


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_TF + code, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


def test_evaluation_qc_augmentation_import_without_tensorflow():
    r = _python("import importlib\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
                "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\nprint('ok')", *TF_FREE)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_blocking_really_blocks():
    r = _python("import cascade.networks")
    assert r.returncode != 0 and "blocked for this test" in r.stderr


@pytest.mark.parametrize("argv", [["-m", "cascade.evaluation", "--help"], ["-m", "cascade.cli", "evaluate", "--help"],
                                  ["-m", "cascade.cli", "scan-info", "--help"]])
def test_clis_without_a_model_run_without_tensorflow(argv):
    r = _python("import runpy\nsys.argv = sys.argv[1:]\nmod = sys.argv.pop(1)\n"
                "runpy.run_module(mod, run_name='__main__')", *argv)
    assert r.returncode == 0 and "usage:" in r.stdout, r.stderr[-2000:]


def test_cli_lists_its_commands_and_refuses_unknown_ones():
    r = subprocess.run([sys.executable, "-m", "cascade.cli", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0
    for command in ("predict", "train", "evaluate", "phantom", "scan-info"):
        assert f"  {command} " in r.stdout
    r = subprocess.run([sys.executable, "-m", "cascade.cli", "nope"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "unknown command 'nope'" in r.stderr


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_cascade_never_imports_phases_and_data_never_imports_either():
    bad = []
    for package, forbidden in (("cascade", ("phases",)), ("data", ("phases", "cascade.predict", "cascade.networks"))):
        for path in (ROOT / package).rglob("*.py"):
            for mod in _imports(path):
                if mod.split(".")[0] in forbidden or any(mod.startswith(f) for f in forbidden if "." in f):
                    bad.append(f"{path.relative_to(ROOT)} imports {mod}")
    assert bad == []


def test_no_sys_path_edits_in_package_code():
    edits = [str(p.relative_to(ROOT)) for pkg in ("cascade", "phases", "data") for p in (ROOT / pkg).rglob("*.py")
             if "sys.path.insert" in p.read_text() or "sys.path.append" in p.read_text()]
    assert edits == []
