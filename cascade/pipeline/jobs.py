"""One scan as a self-contained job, so that a worker process or a cluster node can run it.

A ``ScanJob`` names its scan, output folder and options with plain picklable values; a
``ModelSpec`` names the bundle. ``run_job`` runs the job in whatever process it lands in: the
bundle is loaded there once (``cascade_for`` keeps it per process) and reused for every later job,
the landmark table the scan would print is captured, and any failure comes back as the one-line
error the serial run would print, so one bad scan never stops the others.
"""
from __future__ import annotations

import contextlib
import io
import os
import socket
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from cascade.pipeline.case_run import CaseResult, run_case
from data.errors import InputError, as_input_error


@dataclass(frozen=True)
class ModelSpec:
    """The bundle a job runs, as ``run_pipeline.py`` was told (``--models``, ``--coarse``,
    ``--review-mm``, ``--phase3-starts``), and the threads of the process that runs it
    (``--threads``: TensorFlow's and the atlas stage's; None: their defaults, all cores)."""

    path: str
    coarse: str | None = None
    review_mm: float | None = None
    threads: int | None = None
    phase3_starts: str | None = None

    def load(self):
        """The ``cascade.predict.Cascade`` of this bundle (a fresh load), TensorFlow first set to
        ``threads`` threads when this process has not started it yet (and an atlas stage to
        ``threads`` registrations at once)."""
        from cascade.predict import Cascade
        from cascade.tf_runtime import set_threads

        set_threads(self.threads)

        cascade = Cascade.load(self.path, self.coarse, threads=self.threads, starts=self.phase3_starts)
        if self.review_mm is not None:
            cascade.calibration = replace(cascade.calibration, review_mm=self.review_mm)
        return cascade


_LOADED: dict[ModelSpec, object] = {}
_LOCK = threading.Lock()


def cascade_for(spec: ModelSpec):
    """The cascade of ``spec``, loaded once per process (thread-safe: a cluster worker may run
    several jobs at once)."""
    with _LOCK:
        if spec not in _LOADED:
            _LOADED[spec] = spec.load()
        return _LOADED[spec]


@dataclass(frozen=True)
class ScanJob:
    """One scan of a batch: ``scan`` as the user gave it (it names the scan in every output),
    ``source`` where this job reads it (the same path, or an absolute one for a cluster node),
    ``folder`` its output folder."""

    index: int
    scan: str
    source: str
    folder: str
    truth: str | None = None
    series: str | None = None
    echo: bool = True
    qc: bool = False
    dicom_sr: bool = False

    def absolute(self) -> "ScanJob":
        """The job with absolute paths (for workers that may start in another folder)."""
        return replace(self, source=os.path.abspath(self.source), folder=os.path.abspath(self.folder),
                       truth=None if self.truth is None else os.path.abspath(self.truth))


@dataclass
class Outcome:
    """What a job gives back: the case's result or its one-line error, the table it printed, and
    where it ran (``host:pid``)."""

    index: int
    result: CaseResult | None = None
    error: str | None = None
    printed: str = ""
    worker: str = ""


def worker_name() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_job(job: ScanJob, spec: ModelSpec | None = None, cascade=None, store=None) -> Outcome:
    """Run ``job`` with ``cascade`` (default: ``spec``'s, loaded once in this process); ``store``:
    a PACS store callable (serial runs only). Never raises for a bad scan: its error is returned."""
    out = Outcome(job.index, worker=worker_name())
    table = io.StringIO()
    try:
        with contextlib.redirect_stdout(table):
            model = cascade if cascade is not None else cascade_for(spec)
            out.result = run_case(model, Path(job.scan), Path(job.folder), None if job.truth is None else Path(job.truth),
                                  job.series, job.echo, job.qc, job.dicom_sr, store, source=Path(job.source))
    except Exception as exc:  # whatever it is: this scan failed, the batch goes on
        err = as_input_error(job.scan, exc, "failed")
        if err.path == job.source != job.scan:  # named as the user gave it, as in a serial run
            err = InputError(job.scan, err.problem)
        out.error = str(err)
    out.printed = table.getvalue()
    return out
