"""The one exception type for bad input: its message is a single line naming the file and the problem."""


class InputError(Exception):
    """Bad user input (scan or landmark file). ``str(err)`` is one line: ``<path>: <problem>``."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{self.path}: {self.problem}")
