"""Train phases 1, 2 and 3 in order, then report the validation error after each phase
(``python -m phases.train_all`` or ``landmark-cascade train``; options: ``phases.train_cli``)."""
import sys

from phases.train_cli import run

if __name__ == "__main__":
    sys.exit(run([1, 2, 3], validate_after=True))
