"""``python -m cascade.evaluation``: the evaluation CLI (``cascade.evaluation.cli``)."""
import sys

from cascade.evaluation.cli import main

sys.exit(main())
