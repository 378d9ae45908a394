"""Write files safely: atomically, with the user's umask, one writer per output folder.

``atomic_open`` / ``atomic_path`` write to a temporary name in the same folder, then rename: a
crash or an error mid-write never leaves a partial file under the final name. The temporary file
(``mkstemp`` makes it 0600) gets the mode a plain ``open`` would give (0666 less the umask) before
it is renamed. ``folder_lock`` refuses a second process writing into the same output folder.
``write_csv`` writes a table with spreadsheet formula cells neutralised; ``safe_name`` makes a
name one can create inside a folder without leaving it or clashing with a reserved name.
"""
from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Iterator

from data.errors import InputError

LOCK_NAME = ".landmark-cascade.lock"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"com{n}" for n in range(10)), *(f"lpt{n}" for n in range(10))}
MAX_NAME = 100


def safe_name(text: str, reserved: set[str] = frozenset(), fallback: str = "scan") -> str:
    """``text`` as one plain folder/file name: characters other than letters, digits, ``_ . + -``
    become ``_``; no leading dot or dash, no trailing dot; never empty, ``.``/``..``, a Windows device
    name or one of ``reserved`` (compared case-insensitively; such names get a ``case_`` prefix)."""
    name = re.sub(r"[^\w.+-]", "_", str(text)).lstrip(".-").rstrip(". ")[:MAX_NAME] or fallback
    if name.lower() in {r.lower() for r in reserved} or name.split(".")[0].lower() in WINDOWS_DEVICES:
        name = f"case_{name}"
    return name


def _umask() -> int:
    """The process umask, read without changing it where the system allows (threads may be writing)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temp_beside(path: Path, suffix: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    return tmp


@contextlib.contextmanager
def _renamed_on_success(tmp: str, path: Path) -> Iterator[str]:
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on clean exit rename it onto ``path``."""
    path = Path(path)
    with _renamed_on_success(_temp_beside(path, ".tmp"), path) as tmp:
        with open(tmp, mode, **kwargs) as fh:
            yield fh


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a writer that wants a file name; rename on success."""
    path = Path(path)
    with _renamed_on_success(_temp_beside(path, ".tmp" + "".join(path.suffixes)), path) as tmp:
        yield Path(tmp)


def _needs_guard(text: str) -> bool:
    """Formula-like once leading quotes are dropped (so guarding stays reversible: ``'=x`` -> ``''=x``)."""
    text = text.lstrip("'")
    if not text.startswith(FORMULA_START):
        return False
    try:
        return math.isnan(float(text))
    except ValueError:
        return True


def neutralise_cell(value: object) -> object:
    """A text cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR first)
    gets a leading ``'``; numbers and number-like text (``-12.5``, ``+3``, ``-inf``) are kept."""
    return "'" + value if isinstance(value, str) and _needs_guard(value) else value


def restore_cell(value: str) -> str:
    """Undo ``neutralise_cell``: ``'=x`` -> ``=x`` (what a spreadsheet shows, and what was written)."""
    return value[1:] if value.startswith("'") and _needs_guard(value[1:]) else value


def write_csv(table, path: str | os.PathLike) -> Path:
    """Write a pandas ``DataFrame`` as CSV atomically, formula-like text cells neutralised."""
    safe = table.map(neutralise_cell)
    safe.columns = [neutralise_cell(str(c)) for c in table.columns]
    with atomic_path(path) as tmp:
        safe.to_csv(tmp, index=False)
    return Path(path)


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (created if needed) for one writer; ``InputError`` if taken.

    The lock (``flock`` on ``folder/.landmark-cascade.lock``) is released when the process ends,
    however it ends.
    """
    import fcntl

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fh = open(folder / LOCK_NAME, "a+")
    except OSError as err:
        raise InputError(folder, f"cannot write the output folder: {err.strerror}") from None
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise InputError(folder, f"output folder in use by another run ({holder}); wait or use another --out") \
                from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        yield folder
    finally:
        fh.close()
