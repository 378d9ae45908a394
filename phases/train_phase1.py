"""Train phase 1 of the landmark cascade (``python -m phases.train_phase1``; options: ``phases.train_cli``)."""
import sys

from phases.train_cli import run

if __name__ == "__main__":
    sys.exit(run([1]))
