"""Many scans at once (issue 16): ``--workers N`` (a pool of processes) and ``--cluster ADDRESS`` (a
Dask cluster started here with two worker processes) write the same files as a serial run with the
same TensorFlow threads; a bad scan among them is reported and the others finish."""
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from cascade.bundle import DEMO_BUNDLE
from cascade.pipeline import cli
from cascade.pipeline.executors import WORKER_DIED, default_workers, process_pool, threads_per_worker
from cascade.pipeline.jobs import ModelSpec, Outcome, ScanJob, run_job
from data.phantom import write_case

SMALL = dict(size=96, pixel_spacing=2.2, slice_spacing=3.0)
FILES = ("landmarks.csv", "landmarks.json", "landmarks.fcsv", "landmarks.mrk.json", "errors.csv")
TIMES = ["read_s", "predict_s"]


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> tuple[Path, list[str]]:
    """Three small synthetic scans and a bad file, paths relative to the returned folder."""
    root = tmp_path_factory.mktemp("scans")
    for seed in (1, 2, 3):
        write_case(root / f"c{seed}", seed, **SMALL)
    (root / "bad.dcm").write_bytes(b"not a DICOM file")
    return root, ["c1/dicom", "bad.dcm", "c2/dicom", "c3/dicom"]


def _run(root: Path, scans: list[str], out: str, *extra: str) -> tuple[int, Path]:
    cwd = os.getcwd()
    os.chdir(root)  # scans given as relative paths, as a user would
    try:
        rc = cli.main([*scans, "--truth", "c1/dicom=c1/landmarks.csv", "--models", str(DEMO_BUNDLE), "--out", out,
                       "--threads", "1", *extra])
    finally:
        os.chdir(cwd)
    return rc, root / out


@pytest.fixture(scope="module")
def serial_out(scans):
    root, paths = scans
    rc, out = _run(root, paths, "serial", "--workers", "1")
    assert rc == 2  # the bad scan
    return out


def _same_files(a: Path, b: Path) -> None:
    compared = 0
    for case in ("c1", "c2", "c3"):
        for name in FILES:
            if (a / case / name).exists() or (b / case / name).exists():
                assert (a / case / name).read_bytes() == (b / case / name).read_bytes(), f"{case}/{name} differs"
                compared += 1
    assert compared == 13  # 4 files per scan, errors.csv for c1
    sa, sb = (pd.read_csv(p / "summary.csv", keep_default_na=False) for p in (a, b))
    pd.testing.assert_frame_equal(sa.drop(columns=TIMES), sb.drop(columns=TIMES))
    assert list(sa.case) == ["c1", "bad", "c2", "c3"]  # in the order given, whoever finished first
    assert sa.set_index("case").loc["bad", "error"] == "bad.dcm: not a readable DICOM file (empty or truncated?)"
    ra, rb = (json.loads((p / "run.json").read_text()) for p in (a, b))
    assert ra["files"] == rb["files"] and [c["error"] for c in ra["cases"]] == [c["error"] for c in rb["cases"]]


def test_worker_processes_write_what_a_serial_run_writes(scans, serial_out, capsys):
    root, paths = scans
    capsys.readouterr()
    rc, out = _run(root, paths, "pool", "--workers", "2")
    assert rc == 2
    _same_files(serial_out, out)
    printed = capsys.readouterr()
    assert "2 worker processes, 1 thread each: 4 scans" in printed.err
    assert "error: bad.dcm: not a readable DICOM file" in printed.err
    assert "(3 scans done, 1 failed" in printed.out


def test_a_dask_cluster_writes_what_a_serial_run_writes(scans, serial_out):
    distributed = pytest.importorskip("distributed")
    root, paths = scans
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        rc, out = _run(root, paths, "cluster", "--cluster", cluster.scheduler_address)
    assert rc == 2
    _same_files(serial_out, out)


def _die_on_second(job: ScanJob, spec: ModelSpec) -> Outcome:
    """A worker that dies on job 1 (as when the kernel kills it) and answers the others."""
    if job.index == 1:
        os._exit(9)
    return Outcome(job.index, printed=f"job {job.index} on {os.getpid()}")


def test_a_worker_that_dies_fails_its_scan_only(tmp_path):
    jobs = [ScanJob(n, f"s{n}", f"s{n}", str(tmp_path / f"o{n}")) for n in range(4)]
    spec = ModelSpec(str(tmp_path / "no-bundle"))  # never loaded: the worker's load error is left to the jobs
    outcomes = {o.index: o for o in process_pool(spec, jobs, 2, run=_die_on_second)}
    assert sorted(outcomes) == [0, 1, 2, 3]
    assert outcomes[1].error == f"s1: failed: {WORKER_DIED}"
    assert all(outcomes[n].error is None and outcomes[n].printed.startswith(f"job {n}") for n in (0, 2, 3))


def test_a_bundle_that_cannot_load_is_each_scans_error(tmp_path):
    job = ScanJob(0, "scan", "scan", str(tmp_path / "o"))
    out = run_job(job, ModelSpec(str(tmp_path / "nothing")))
    assert out.result is None and out.error == f"{tmp_path / 'nothing'}: not a model bundle (no bundle.json)"


def test_default_workers_and_threads():
    assert default_workers(1, cores=16) == 1  # one scan: no pool
    assert default_workers(20, cores=2, memory_mb=24000) == 1  # measured: a second worker adds nothing on 2 cores
    assert default_workers(20, cores=16, memory_mb=64000) == 8  # one per two cores
    assert default_workers(3, cores=16, memory_mb=64000) == 3  # never more than the scans
    assert default_workers(20, cores=16, memory_mb=5400) == 2  # nor than half the memory holds (1300 MB each)
    assert default_workers(20, cores=1, memory_mb=24000) == 1
    assert threads_per_worker(2, cores=2) == 1 and threads_per_worker(3, cores=16) == 5 and threads_per_worker(4, 2) == 1


@pytest.mark.parametrize("args, message", [(["--workers", "0"], "expected a whole number, 1 or more, got '0'"),
                                           (["--workers", "many"], "expected a whole number, 1 or more, got 'many'"),
                                           (["--threads", "auto"], "expected a whole number, 1 or more, got 'auto'")])
def test_bad_worker_options_are_one_line_errors(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.parser("run_pipeline.py").parse_args(["scan", *args])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
