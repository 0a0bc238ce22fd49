"""A full disk while an index is written, told apart from other failures: whichever writer
hits it first (SQLite, FAISS, bm25s, the manifest) reports it its own way, and a build or
an update turns any of them into one BuildError saying what happened and what to do.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from semsearch.errors import BuildError

#: errno values that mean "no room": the disk, or the user's quota on it.
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
#: How SQLite and FAISS (a C++ RuntimeError with the C library's text) say it.
_NO_SPACE_TEXTS = ("database or disk is full", "no space left on device", "disk quota exceeded")


def is_disk_full(exc: BaseException) -> bool:
    """True when `exc`, or an error it was raised from, means the disk (or quota) is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _NO_SPACE:
            return True
        said = isinstance(current, sqlite3.OperationalError | RuntimeError | OSError)
        if said and any(text in str(current).lower() for text in _NO_SPACE_TEXTS):
            return True
        current = current.__cause__ or current.__context__
    return False


def disk_full_error(out: Path, action: str) -> BuildError:
    """The error a build or an update (`action`) of `out` ends with when the disk fills."""
    return BuildError(
        f"the disk is full: the {action} of {out} ran out of space while writing the new "
        f"version (in {Path(out).absolute().parent}); nothing was published: an index already "
        "there is unchanged and still served. Free some space there (older versions in "
        f".{Path(out).name}.versions/ and other files), or build to a disk with room "
        "(--out), then run it again."
    )
