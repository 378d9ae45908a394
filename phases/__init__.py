"""Training of the cascade: the trainer, its data, the per-phase scripts and the real-CT recipe.

Depends on ``cascade`` (never the reverse). TensorFlow is imported quietly (``cascade.tf_runtime``).
"""
from cascade.tf_runtime import import_tensorflow

import_tensorflow()
