"""Pick the ``tf.distribute`` strategy training runs under.

- ``TF_CONFIG`` in the environment: MultiWorkerMirroredStrategy (several machines; every worker
  runs the same command, the chief writes the bundle, see ``is_chief``);
- several GPUs, or devices named explicitly (e.g. ``cpu:0,cpu:1``): MirroredStrategy;
- otherwise the default (single-device) strategy.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Sequence


def split_cpu(n: int) -> None:
    """Expose ``n`` logical CPU devices (must run before TensorFlow initialises its devices)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)


def get_strategy(devices: Sequence[str] | None = None):
    """The strategy for this process (see module docstring)."""
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        return _multi_worker_strategy()
    if devices:
        names = [d if d.startswith("/") else f"/{d}" for d in devices]
        cpus = [d for d in names if "cpu" in d.lower()]
        if len(cpus) > 1:
            try:
                split_cpu(len(cpus))
            except RuntimeError:  # devices already initialised: fine if enough logical CPUs exist
                if len(tf.config.list_logical_devices("CPU")) < len(cpus):
                    raise
        return tf.distribute.MirroredStrategy(names)
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _multi_worker_strategy():
    """``MultiWorkerMirroredStrategy`` whose ``reduce`` takes nested values, one tensor at a time.

    Keras 3's ``fit`` reduces a first (x, y) batch across replicas to learn its shapes; the stock
    strategy's collective ``reduce`` takes single tensors only and fails on the tuple ("Attempt to
    convert a value (PerReplica...) ... to a Tensor": keras-team/keras#20585, tensorflow#72388,
    open as of Keras 3.15 / TensorFlow 2.21), and its metric logs are scalars reduced along an
    axis 0 they lack. Reducing each tensor of the structure, a scalar across replicas, is what
    those calls mean; ``tests/phases/test_multi_worker.py`` trains two workers through it."""
    import tensorflow as tf

    class NestedReduce(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis):
            def one(v):
                rank = getattr(self.experimental_local_results(v)[0], "shape", tf.TensorShape(None)).rank
                return super(NestedReduce, self).reduce(reduce_op, v, None if rank == 0 else axis)

            return tf.nest.map_structure(one, value)

    return NestedReduce()


def task() -> tuple[str, int] | None:
    """This process's ``(type, index)`` in ``TF_CONFIG`` (e.g. ``("worker", 1)``), None without one."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        t = json.loads(raw)["task"]
        return str(t["type"]), int(t.get("index", 0))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"TF_CONFIG has no valid task ({exc}): {raw[:200]}") from None


def is_chief() -> bool:
    """True unless ``TF_CONFIG`` makes this process a non-chief worker: the chief is the ``chief``
    task, or worker 0 of a cluster without one (as ``tf.distribute`` decides). Only the chief
    writes the bundle; the others train the same model in step and throw their copy away."""
    t = task()
    if t is None:
        return True
    cluster = json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
    if t[0] == "chief":
        return True
    return t == ("worker", 0) and not cluster.get("chief")


@contextlib.contextmanager
def scratch_bundle(bundle: Path) -> Iterator[Path]:
    """A non-chief worker's bundle: a private copy of ``bundle`` (if it exists yet: its config,
    split and checkpoints, for ``--resume``) in a temporary folder, removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="landmark-cascade-worker-"))
    try:
        copy = tmp / "bundle"
        if Path(bundle).is_dir():
            shutil.copytree(bundle, copy)
        yield copy
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
