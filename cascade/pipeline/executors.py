"""Where the scans of a batch run: in this process, in a pool of worker processes, or on a Dask cluster.

Each executor takes the batch's ``ScanJob``s and yields an ``Outcome`` per job as it finishes
(serial: in order; pool and cluster: as they complete; the caller puts the rows back in order).
Every job writes its own files in its own case folder, so the files are the same whoever runs
them; what each executor adds is only how the jobs reach a process holding the bundle:

* ``serial``: the bundle loaded here, jobs one after another;
* ``process_pool``: ``workers`` processes (``spawn``: no TensorFlow state is forked), each loading
  the bundle once and using its share of the cores as TensorFlow threads; when a worker dies (killed,
  out of memory) the scans that pool had started are run again, each alone, and only one that
  kills its worker again is reported as failed;
* ``dask_cluster``: the workers of a running Dask scheduler (``distributed.Client(address)``); each
  worker process loads the bundle once, on its first scan. Scans and the output folder must be on
  storage every worker sees under the same path.
"""
from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Iterator, Sequence

from cascade.pipeline.jobs import ModelSpec, Outcome, ScanJob, cascade_for, run_job

WORKER_DIED = "the worker process running it died (killed, or out of memory?)"
WORKER_MB = 1300  # measured peak of one worker with the shipped bundle (bench/batch_throughput.py, RESULTS.md)
CORES_PER_WORKER = 2  # measured: on 2 cores one process already keeps both busy (1 or 2 workers: same scans/min)


def serial(cascade, jobs: Sequence[ScanJob], started: Callable[[ScanJob], None] = lambda job: None,
           store=None) -> Iterator[Outcome]:
    """The jobs one after another with ``cascade`` in this process; ``started(job)`` before each."""
    for job in jobs:
        started(job)
        yield run_job(job, cascade=cascade, store=store)


def _init_worker(spec: ModelSpec) -> None:
    """A pool worker: the bundle loaded once (TensorFlow set to ``spec.threads`` threads first). A
    bundle that fails to load is left to each job, which reports it as its error."""
    try:
        cascade_for(spec)
    except Exception:  # noqa: BLE001 -- reported by run_job, per scan
        pass


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """The cores shared out between ``workers`` processes (at least one thread each)."""
    return max(1, (cores or os.cpu_count() or 1) // max(1, workers))


def _marked(run: Callable[..., Outcome], marks: str, job: ScanJob, spec: ModelSpec) -> Outcome:
    """``run(job, spec)`` in a worker, leaving a mark that the job started (see ``process_pool``)."""
    Path(marks, str(job.index)).touch()
    return run(job, spec)


def process_pool(spec: ModelSpec, jobs: Sequence[ScanJob], workers: int, retries: int = 1,
                 run: Callable[..., Outcome] = run_job) -> Iterator[Outcome]:
    """The jobs on ``workers`` local processes (see the module docstring); ``spec.threads`` TensorFlow
    threads each (default: the cores shared out, ``threads_per_worker``). ``run(job, spec)`` runs one
    job in a worker (a module-level function).

    A worker that dies takes its pool down with it: the jobs that had started in that pool are the
    suspects, each run again alone in a pool of its own (up to ``retries`` times), so that only the
    scan that kills its worker is reported (``WORKER_DIED``); the jobs not yet started go on in a
    fresh pool."""
    import multiprocessing
    import tempfile
    from dataclasses import replace
    from functools import partial

    spec = replace(spec, threads=spec.threads or threads_per_worker(workers))
    context = multiprocessing.get_context("spawn")  # no TensorFlow state is forked
    todo = {job.index: job for job in jobs}
    tries = dict.fromkeys(todo, 0)
    suspects: list[int] = []
    with tempfile.TemporaryDirectory(prefix="landmark-cascade-pool-") as marks:
        while todo:
            if suspects:  # alone: if its worker dies again, it is the one that kills it
                batch, size = [todo[suspects.pop(0)]], 1
            else:
                batch, size = list(todo.values()), min(workers, len(todo))
            with ProcessPoolExecutor(max_workers=size, mp_context=context, initializer=_init_worker,
                                     initargs=(spec,)) as pool:
                futures = {pool.submit(partial(_marked, run, marks), job, spec): job for job in batch}
                broken = []
                while futures:
                    done, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for fut in done:
                        job = futures.pop(fut)
                        try:
                            outcome = fut.result()
                        except BrokenProcessPool:
                            broken.append(job)
                            continue
                        del todo[job.index]
                        yield outcome
            started = [job for job in broken if Path(marks, str(job.index)).exists()]
            for job in started or broken:  # who had started is a suspect, the rest goes on
                Path(marks, str(job.index)).unlink(missing_ok=True)
                tries[job.index] += 1
                if tries[job.index] > retries or not started:  # none had started: the pool itself dies
                    del todo[job.index]
                    yield Outcome(job.index, error=f"{job.scan}: failed: {WORKER_DIED}")
                else:
                    suspects.append(job.index)


def dask_cluster(address: str, spec: ModelSpec, jobs: Sequence[ScanJob], client=None) -> Iterator[Outcome]:
    """The jobs on the workers of the Dask scheduler at ``address`` (or an open ``client``); paths
    are made absolute. A worker lost mid-scan is retried by Dask on another worker; a scan that
    kills workers repeatedly is reported as failed."""
    from distributed import Client, as_completed

    own = client is None
    client = client or Client(address, timeout="30s")
    try:
        futures = {client.submit(run_job, job.absolute(), spec, pure=False, key=f"scan-{job.index}-{os.getpid()}"): job
                   for job in jobs}
        for fut in as_completed(futures):
            job = futures[fut]
            try:
                yield fut.result()
            except Exception as exc:  # KilledWorker, a lost connection: this scan failed, the others go on
                yield Outcome(job.index, error=f"{job.scan}: failed on the cluster: {type(exc).__name__}: "
                                               f"{' '.join(str(exc).split())[:200]}")
    finally:
        if own:
            client.close()


def default_workers(n_scans: int, cores: int | None = None, memory_mb: float | None = None) -> int:
    """``--workers auto``: one process for a single scan; otherwise one worker per
    ``CORES_PER_WORKER`` cores (on the 2-core machine: one, since a second worker added no
    throughput, bench/RESULTS.md), never more than the scans or than half the machine's memory
    holds at ``WORKER_MB`` each."""
    if n_scans <= 1:
        return 1
    cores = cores or os.cpu_count() or 1
    n = max(1, cores // CORES_PER_WORKER)
    if memory_mb is None:
        memory_mb = _memory_mb()
    if memory_mb:
        n = min(n, max(1, int(memory_mb / 2 // WORKER_MB)))
    return max(1, min(n, n_scans))


def _memory_mb() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):
        return None
