"""Landmark Cascade package. Importing it quiets TensorFlow's C++ start-up logging (set
``TF_CPP_MIN_LOG_LEVEL`` yourself to see it) so that errors stay one readable line."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
