"""Pick the ``tf.distribute`` strategy training runs under.

- ``TF_CONFIG`` in the environment: MultiWorkerMirroredStrategy (several machines);
- several GPUs, or devices named explicitly (e.g. ``cpu:0,cpu:1``): MirroredStrategy;
- otherwise the default (single-device) strategy.
"""
from __future__ import annotations

import os
from typing import Sequence


def split_cpu(n: int) -> None:
    """Expose ``n`` logical CPU devices (must run before TensorFlow initialises its devices)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)


def get_strategy(devices: Sequence[str] | None = None):
    """The strategy for this process (see module docstring)."""
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
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
