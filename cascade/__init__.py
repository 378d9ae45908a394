"""Landmark Cascade: the method (configuration, stages, networks, bundles, prediction, coarse stage),
its evaluation (``cascade.evaluation``) and quality-control images (``cascade.qc``).

Importing this package imports nothing heavy: TensorFlow is imported (quietly, by
``cascade.tf_runtime``) only where a model is built, loaded or run.
"""
