"""Output folder names for scans: one per scan, safe, never colliding, never a reserved name."""
from __future__ import annotations

import os
from pathlib import Path

from data.atomic import LOCK_NAME, safe_name

GENERIC_FOLDERS = {"dicom", "dcm", "images", "image", "series", "scan", "ct"}
RESERVED = {"summary.csv", "index.html", "inputs", "run.json", LOCK_NAME}  # what OUT itself holds


def case_name(path: Path) -> str:
    """Output folder name for a scan path (``case_7/dicom`` -> ``case_7``, ``a.nii.gz`` -> ``a``),
    made safe by ``data.atomic.safe_name`` (stays inside OUT, never empty, ``..`` or reserved).

    A generic name (``dicom``, ``scan``, ...) takes its parent folder's name from the path as the
    user gave it (``os.path.abspath``: symlinks are not followed, so ``a/scan`` -> ``a`` even when
    ``a/scan`` links to ``/elsewhere/x/ct``)."""
    name = path.name
    for suffix in (".nii.gz", ".nii", ".dcm"):
        if name.lower().endswith(suffix):
            return safe_name(name[: -len(suffix)], RESERVED)
    parent = Path(os.path.abspath(path)).parent.name
    if name.lower() in GENERIC_FOLDERS and parent:
        return safe_name(parent, RESERVED)
    return safe_name(name, RESERVED)


def unique_names(paths: list[Path]) -> list[str]:
    """``case_name`` of each path, with ``-2``, ``-3`` ... appended where a name is taken (also by an
    earlier suffixed one, case-insensitively: ``x/a``, ``y/a``, ``z/a-2`` -> ``a``, ``a-2``, ``a-2-2``)."""
    taken: set[str] = set()
    out = []
    for p in paths:
        base = name = case_name(p)
        n = 1
        while name.lower() in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name.lower())
        out.append(name)
    return out
