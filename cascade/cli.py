"""``landmark-cascade COMMAND ...``: every entry point of the project behind one installed command.

    landmark-cascade predict [SCAN ...] [--out OUT]    # = python run_pipeline.py
    landmark-cascade train --manifest M --bundle B     # = python -m phases.train_all
    landmark-cascade train-real --bundle B             # = python -m phases.train_real
    landmark-cascade evaluate --pred P --truth T --out R   # = python -m cascade.evaluation
    landmark-cascade phantom OUT [--cases N]           # = python -m data.phantom
    landmark-cascade scan-info SCAN                    # = python -m data.scan_info

Each command's ``--help`` lists its options. Commands are imported only when run (``evaluate``,
``phantom`` and ``scan-info`` never import TensorFlow).
"""
from __future__ import annotations

import importlib
import sys

# command: (module, function, how it is called, help). Modules are imported by name when their
# command runs: ``cascade`` itself never imports ``phases`` (which depends on it), and commands
# that need no model never import TensorFlow.
COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "predict": ("cascade.pipeline.cli", "main", "prog",
                "find the landmarks in scans (the built-in example without a scan)"),
    "train": ("phases.train_cli", "run", "phases",
              "train phases 1-3 of a bundle on a manifest of labelled scans"),
    "train-real": ("phases.train_real", "main", "prog", "rebuild the shipped real-CT bundle from the labelled real heads"),
    "evaluate": ("cascade.evaluation.cli", "main", "argv",
                 "errors, SDR, post-hoc statistics and a report of predictions against a truth"),
    "phantom": ("data.phantom.__main__", "main", "argv", "generate synthetic head CTs with their landmarks"),
    "scan-info": ("data.scan_info", "main", "argv",
                  "what the reader makes of a scan (geometry, corrections), without a model"),
}


def run_command(name: str, argv: list[str]) -> int:
    """Run command ``name`` with ``argv``; returns its exit code."""
    module, func, style, _ = COMMANDS[name]
    entry = getattr(importlib.import_module(module), func)
    if style == "prog":
        return entry(argv, prog=f"landmark-cascade {name}")
    if style == "phases":
        return entry([1, 2, 3], argv, validate_after=True, prog=f"landmark-cascade {name}")
    return entry(argv)


def usage() -> str:
    width = max(map(len, COMMANDS))
    return "usage: landmark-cascade COMMAND [options]\n\ncommands:\n" + "".join(
        f"  {name:<{width}}  {text}\n" for name, (*_, text) in COMMANDS.items()) + \
        "\n'landmark-cascade COMMAND --help' lists a command's options.\n"


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a command; returns its exit code (2 for an unknown command)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), end="")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"landmark-cascade: unknown command {name!r}\n\n{usage()}", end="", file=sys.stderr)
        return 2
    return run_command(name, rest)


if __name__ == "__main__":
    sys.exit(main())
