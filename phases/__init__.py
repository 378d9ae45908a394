"""Networks, losses and training scripts of the cascade (TensorFlow imported quietly: see ``cascade``)."""
import cascade  # noqa: F401
