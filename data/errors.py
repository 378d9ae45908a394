"""The one exception type for bad input: its message is a single line naming the file and the problem.

``boundary(path)`` is the catch-all each command line puts around reading one input: any other
exception becomes an ``InputError`` naming the input and the exception, so a bad file gives one line
and exit code 2, never a traceback. (Readers raise ``InputError`` themselves for every problem they
know of; what reaches the boundary is a reader bug worth a test.)
"""
from __future__ import annotations

import contextlib
from typing import Iterator


class InputError(Exception):
    """Bad user input (scan or landmark file). ``str(err)`` is one line: ``<path>: <problem>``."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{self.path}: {self.problem}")


EXIT_BAD_INPUT = 2


def as_input_error(path: object, exc: BaseException, what: str = "cannot read") -> InputError:
    """``exc`` as an ``InputError`` on ``path`` (unchanged when it already is one)."""
    if isinstance(exc, InputError):
        return exc
    if isinstance(exc, OSError) and exc.strerror:
        return InputError(exc.filename or path, f"{what}: {exc.strerror}")
    if isinstance(exc, MemoryError):
        return InputError(path, f"{what}: out of memory (input too large?)")
    text = str(exc).strip() or "no details"
    return InputError(path, f"{what}: unexpected {type(exc).__name__}: {text[:300]}")


@contextlib.contextmanager
def boundary(path: object, what: str = "cannot read") -> Iterator[None]:
    """Turn any ``Exception`` raised inside into an ``InputError`` on ``path`` (see the module docstring)."""
    try:
        yield
    except Exception as exc:  # the boundary: everything below is reported as one line
        raise as_input_error(path, exc, what) from exc


def report(err: InputError) -> int:
    """Print ``error: <path>: <problem>`` on stderr (one line) and return the bad-input exit code."""
    import sys

    print(f"error: {err}", file=sys.stderr)
    return EXIT_BAD_INPUT
