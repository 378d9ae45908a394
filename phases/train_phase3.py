"""Train phase 3 of the landmark cascade (see ``phases.train_cli`` for the options)."""
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python phases/train_phase3.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from phases.train_cli import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run([3]))
