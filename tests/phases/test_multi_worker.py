"""Training on several machines (``TF_CONFIG``, MultiWorkerMirroredStrategy), as two worker processes
on this machine talking over loopback: both run the same command, they train in step (the
chief's replica count says 2) to the same model as two replicas on one machine
(MirroredStrategy), and only the chief (worker 0) writes the bundle."""
import json

import numpy as np
import os
import socket
import subprocess
import sys
from pathlib import Path

from cascade.bundle import Bundle
from phases.strategy import is_chief, task
from tests.phases.test_feedback import manifest  # noqa: F401 -- the fixture: four blob scans

ROOT = Path(__file__).resolve().parents[2]


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def tf_config(workers: list[str], index: int, kind: str = "worker") -> str:
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": kind, "index": index}})


def test_chief_is_worker_zero_or_the_chief_task(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert task() is None and is_chief()
    monkeypatch.setenv("TF_CONFIG", tf_config(["a:1", "b:2"], 1))
    assert task() == ("worker", 1) and not is_chief()
    monkeypatch.setenv("TF_CONFIG", tf_config(["a:1", "b:2"], 0))
    assert is_chief()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"chief": ["c:0"], "worker": ["a:1"]},
                                                "task": {"type": "worker", "index": 0}}))
    assert not is_chief()


def test_two_local_workers_train_one_bundle(tmp_path, manifest):  # noqa: F811
    workers = [f"localhost:{p}" for p in free_ports(2)]
    bundle = tmp_path / "bundle"
    cmd = [sys.executable, "-m", "phases.train_phase1", "--manifest", str(manifest), "--bundle", str(bundle),
           "--tiny", "--epochs", "2", "--verbose", "0"]
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": tf_config(workers, index), "CUDA_VISIBLE_DEVICES": "",
               "TF_CPP_MIN_LOG_LEVEL": "2"}
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=420))
        finally:
            if p.poll() is None:
                for q in procs:
                    q.kill()
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
        assert "2 replicas" in err, err[-2000:]  # one replica per worker, in step
    chief_err, worker_err = outs[0][1], outs[1][1]
    assert f"bundle: {bundle}" in chief_err
    assert "the chief writes the bundle" in worker_err
    for err in (chief_err, worker_err):  # both trained both epochs
        assert "epoch 2/2" in err, err[-2000:]
    b = Bundle.open(bundle)
    assert b.model_path(1).exists() and b.load_model(1).output_shape[-1] == 3 * len(b.names)
    log = (bundle / "logs" / "phase1.csv").read_text().strip().splitlines()
    assert len(log) == 3  # header + 2 epochs, written once (by the chief)
    # the same global batches on two replicas of one machine: the same model (gradients summed over workers)
    mirrored = tmp_path / "mirrored"
    one = subprocess.run(cmd[:6] + [str(mirrored)] + cmd[7:] + ["--devices", "cpu:0,cpu:1"], cwd=ROOT,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, capture_output=True, text=True, timeout=420)
    assert one.returncode == 0 and "2 replicas" in one.stderr, one.stderr[-2000:]
    a, m = b.load_model(1).get_weights(), Bundle.open(mirrored).load_model(1).get_weights()
    assert len(a) == len(m) and all(np.allclose(x, y, atol=1e-5) for x, y in zip(a, m))
