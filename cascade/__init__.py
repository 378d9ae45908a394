"""Landmark Cascade: the method (configuration, preprocessing, samples, bundles, prediction).

Importing this package imports TensorFlow once with its C++ start-up chatter (oneDNN, CUDA
probing: printed before TensorFlow's own log settings apply) kept off the terminal, so that
errors for the user stay one readable line. Set ``LANDMARK_CASCADE_TF_LOGS=1`` to see it; if the
import fails, what TensorFlow printed is shown with the error.
"""
import os
import sys
import tempfile


def _import_tensorflow_quietly() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules or os.environ.get("LANDMARK_CASCADE_TF_LOGS"):
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced (e.g. captured): nothing to hide
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), fd)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # device probing prints too
        except BaseException:
            os.dup2(saved, fd)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, fd)
            os.close(saved)


_import_tensorflow_quietly()
