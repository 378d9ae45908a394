"""Train phases 1, 2 and 3 in order, then report the validation error after each phase."""
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python phases/train_all.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from phases.train_cli import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run([1, 2, 3], validate_after=True))
