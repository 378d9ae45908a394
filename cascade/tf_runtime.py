"""TensorFlow, imported once and quietly: only modules that build, load or run a model call this.

TensorFlow's C++ start-up chatter (oneDNN, CUDA probing: printed before TensorFlow's own log
settings apply) is kept off the terminal, so that errors for the user stay one readable line.
Set ``LANDMARK_CASCADE_TF_LOGS=1`` to see it; if the import fails, what TensorFlow printed is
shown with the error.
"""
import os
import sys
import tempfile


def import_tensorflow():
    """``tensorflow``, imported quietly the first time."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules and not os.environ.get("LANDMARK_CASCADE_TF_LOGS"):
        _quiet_import()
    import tensorflow as tf

    return tf


def _quiet_import() -> None:
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
