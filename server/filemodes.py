"""Owner-only modes for the data directory and the files in it.

The data directory holds every actor's inspector token in plain text (in
``actorscope.sqlite``) and the server-wide token (``server-token``), so
nothing in it may be readable by other local users:

* directories the server creates are 0700; an existing one that lets
  others in is left as it is (it may be shared on purpose) but logged as a
  warning;
* files are 0600: a SQLite file is created empty at 0600 *before* SQLite
  opens it, because SQLite gives its ``-wal`` and ``-shm`` files the mode of
  the database file; existing files of ours that are looser are tightened.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = ["private_dir", "private_file", "private_sqlite_file"]

_log = logging.getLogger("actorscope.server")

#: SQLite's companion files in WAL mode, which take the database file's mode.
_SQLITE_SUFFIXES = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) with mode 0700, or warn if it exists open to others."""
    if path.is_dir():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            _log.warning(
                "%s is open to other users (mode %03o) and holds inspector tokens; "
                "chmod 700 it unless that is intended",
                path,
                mode,
            )
        return
    path.mkdir(parents=True, mode=0o700)
    # mkdir's mode is filtered by the umask, which can only take bits away;
    # chmod makes it exactly 0700 whatever the umask.
    os.chmod(path, 0o700)


def private_file(path: Path) -> None:
    """Make ``path`` exist with mode 0600 (created empty if missing, tightened if looser)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode != 0o600:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def private_sqlite_file(path: Path) -> None:
    """``private_file`` for a SQLite database, and its companion files if present."""
    private_file(path)
    for suffix in _SQLITE_SUFFIXES:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            private_file(companion)
