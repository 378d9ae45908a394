"""Train phase 2 of the landmark cascade (``python -m phases.train_phase2``; options: ``phases.train_cli``)."""
import sys

from phases.train_cli import run

if __name__ == "__main__":
    sys.exit(run([2]))
