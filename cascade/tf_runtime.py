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


def set_threads(threads: int | None) -> bool:
    """Use ``threads`` TensorFlow threads (intra- and inter-op) in this process; True when applied.

    Must run before TensorFlow starts its runtime (False, and nothing changed, once it has). The
    thread count is part of what a prediction means at the 1e-5 mm level: TensorFlow's CPU
    convolutions split their sums by thread, so runs with equal counts give identical numbers
    (measured: up to 4e-5 mm apart between 1 and 2 threads)."""
    if not threads:
        return False
    tf = import_tensorflow()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(int(threads))
    except RuntimeError:  # the runtime is already running with its own thread pools
        return False
    return True
