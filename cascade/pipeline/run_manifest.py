"""``OUT/run.json``: what one ``run_pipeline.py`` run wrote into its output folder, so that runs never mix.

A run records its command, bundle, start and end time, the landmark-cascade version, its cases
(scan as given, truth, error) and every file it wrote (paths relative to OUT). The manifest is
written atomically twice: when the run starts (``status: running``, the folders it is about to fill:
its case folders, and ``inputs/example`` for the built-in example) and last (``status: complete``, the exact file list).

Before a run touches OUT (``check_out``):

* OUT missing or empty (the lock file aside): the run goes ahead;
* OUT holds an earlier run (its ``run.json``): refused unless ``--overwrite``; with it, exactly the
  files that manifest lists are deleted (then the folders they leave empty). The built-in example
  may replace an earlier *example* run without ``--overwrite`` (``python run_pipeline.py`` twice);
* anything in OUT that no manifest lists (a file of the user's, the output of a version without
  ``run.json``) is refused, with or without ``--overwrite``, naming one such file: it is never
  deleted. A run that did not finish (``status: running``) owns whatever lies in the case folders
  it named, since they were empty when it started.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from data.atomic import LOCK_NAME, atomic_open
from data.errors import InputError
from cascade.progress import plural

MANIFEST_NAME = "run.json"
FORMAT = 1
RUNNING, COMPLETE = "running", "complete"


def package_version() -> str:
    """The installed landmark-cascade version, else the checkout's ``pyproject.toml`` version."""
    from importlib import metadata

    try:
        return metadata.version("landmark-cascade")
    except metadata.PackageNotFoundError:
        pass
    try:
        import tomllib

        with open(Path(__file__).resolve().parents[2] / "pyproject.toml", "rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (ImportError, OSError, KeyError, ValueError):
        return "unknown"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


@dataclass
class RunManifest:
    """One run's record (``OUT/run.json``); ``files`` are OUT-relative POSIX paths."""

    command: list[str]
    bundle: str
    example: bool = False
    status: str = RUNNING
    version: str = field(default_factory=package_version)
    started: str = field(default_factory=_now)
    finished: str | None = None
    cwd: str = field(default_factory=os.getcwd)
    cases: list[dict[str, Any]] = field(default_factory=list)  # case, scan, scan_path, truth, error
    folders: list[str] = field(default_factory=list)  # what it fills: its case folders (and inputs/example)
    files: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunManifest":
        """From ``run.json``'s content (unknown keys ignored)."""
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**{"command": [], "bundle": "", **known})

    def finish(self, out: Path, files: Iterable[str]) -> Path:
        """Record the files written (OUT-relative) and write the manifest as complete: the run's last file."""
        self.files = sorted(set(files))
        self.status, self.finished = COMPLETE, _now()
        return self.write(out)

    def write(self, out: Path) -> Path:
        """Write ``out/run.json`` atomically."""
        data = {"landmark_cascade_run": FORMAT, **asdict(self)}
        with atomic_open(out / MANIFEST_NAME, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
            fh.write("\n")
        return out / MANIFEST_NAME


def read_run(out: Path) -> RunManifest | None:
    """``out/run.json`` (None when absent); InputError when it is there but unreadable."""
    path = Path(out) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "landmark_cascade_run" not in data:
            raise ValueError("not a landmark-cascade run manifest")
        return RunManifest.from_json(data)
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as err:
        raise InputError(path, f"unreadable run manifest ({err}); move it away or choose another --out") from None


def files_under(out: Path, folder: str | Path) -> list[str]:
    """Every file below ``out/folder`` (none when it is missing), as OUT-relative POSIX paths."""
    root = Path(out) / folder
    if root.is_file():
        return [Path(folder).as_posix()]
    found = []
    for dirpath, dirs, names in os.walk(root):
        links = [d for d in dirs if (Path(dirpath) / d).is_symlink()]  # an entry, never followed
        found += [(Path(dirpath) / n).relative_to(out).as_posix() for n in names + links]
    return sorted(found)


def _everything(out: Path) -> list[str]:
    """Every file in ``out`` but the lock file and the manifest itself."""
    return [f for f in files_under(out, ".") if f not in (LOCK_NAME, MANIFEST_NAME)] if out.is_dir() else []


def _owned(run: RunManifest, out: Path) -> set[str]:
    """The files of ``out`` that ``run`` accounts for."""
    owned = set(run.files)
    if run.status != COMPLETE:  # it died while writing: its case folders (empty when it began) are its own
        for folder in run.folders:
            owned.update(files_under(out, folder))
    return owned


def check_out(out: Path, overwrite: bool, example: bool, inputs: Iterable[Path] = ()) -> list[str]:
    """What must be deleted before a run may write into ``out`` (OUT-relative paths, [] when nothing);
    InputError (one line) when the run must not go ahead. Deletes nothing.

    ``inputs``: the scans and truth files of the new run, which are never deleted (refused instead).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "cannot write the output folder: Not a directory")
    present = _everything(out)
    earlier = read_run(out)
    if earlier is None:
        if present:
            raise InputError(out / present[0], f"not written by a recorded run (the folder has no {MANIFEST_NAME}), "
                                               "so never deleted, not even with --overwrite: move it away or "
                                               "choose another --out")
        return []
    owned = _owned(earlier, out)
    unknown = [f for f in present if f not in owned]
    if not (overwrite or (example and earlier.example)):
        raise InputError(out, f"holds the output of an earlier run ({plural(len(earlier.cases), 'case')}); "
                              "use --overwrite to replace it or choose another --out")
    if unknown:
        raise InputError(out / unknown[0], f"not written by the earlier run (not in {out / MANIFEST_NAME}), so never "
                                           "deleted: move it away or choose another --out")
    doomed = sorted(f for f in owned if (out / f).is_file() or (out / f).is_symlink())
    _refuse_deleting_inputs(out, doomed, inputs)
    return doomed + [MANIFEST_NAME]


def _refuse_deleting_inputs(out: Path, doomed: list[str], inputs: Iterable[Path]) -> None:
    gone = {os.path.abspath(out / f) for f in doomed}
    for path in inputs:
        p = os.path.abspath(path)
        if p in gone or any(g.startswith(p.rstrip(os.sep) + os.sep) for g in gone):
            raise InputError(path, f"is part of the earlier run in {out} that --overwrite would delete; "
                                   "copy it elsewhere or choose another --out")


def clear_out(out: Path, doomed: list[str]) -> int:
    """Delete ``doomed`` (from ``check_out``) under ``out``, then the folders left empty; returns the count."""
    out = Path(out)
    folders = set()
    for rel in doomed:
        path = out / rel
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        folders.update(p for p in path.parents if p != out and out in p.parents)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()  # only when empty: never a file the manifest did not list
        except OSError:
            pass
    return len(doomed)


def command_line(argv: list[str] | None, prog: str | None = None) -> list[str]:
    """The command as run: the program (``prog``, else this process's) and its arguments."""
    return [prog or Path(sys.argv[0]).name or "run_pipeline.py", *(sys.argv[1:] if argv is None else argv)]
