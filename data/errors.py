"""The one exception type for bad input: its message is a single line naming the file and the problem."""


class InputError(Exception):
    """Bad user input (scan or landmark file). ``str(err)`` is one line: ``<path>: <problem>``."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{self.path}: {self.problem}")


EXIT_BAD_INPUT = 2


def report(err: InputError) -> int:
    """Print ``error: <path>: <problem>`` on stderr (one line) and return the bad-input exit code."""
    import sys

    print(f"error: {err}", file=sys.stderr)
    return EXIT_BAD_INPUT
