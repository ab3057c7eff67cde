"""Where ``actorscope serve`` gets its server-wide inspector token.

In order of precedence:

1. ``--inspector-token T`` — works, but the token is then in
   ``/proc/<pid>/cmdline``, which every local user can read; the server
   logs a warning saying so.
2. ``--inspector-token-file PATH`` — the file's first line (a file that
   others can read is warned about).
3. the environment variable ``ACTORSCOPE_INSPECTOR_TOKEN`` (a process's
   environment is readable by its own user only).
4. ``--dev`` with none of the above: no token, auth off.
5. the token stored in the data directory (``server-token``, 0600), or a
   new one generated and stored there (a cluster node generates none here:
   its cluster decides, ``cluster_token.py``).
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from .filemodes import private_dir, private_file

__all__ = ["TOKEN_ENV", "TOKEN_FILE", "TokenError", "resolve_token"]

#: The generated token's file in the data directory.
TOKEN_FILE = "server-token"
#: The environment variable the server-wide token may come from.
TOKEN_ENV = "ACTORSCOPE_INSPECTOR_TOKEN"

_log = logging.getLogger("actorscope.server")


class TokenError(Exception):
    """The token file named on the command line cannot be used."""


def resolve_token(
    data_dir: Path,
    given: str | None,
    dev: bool,
    *,
    token_file: Path | None = None,
    environ: Mapping[str, str] = os.environ,
    generate: bool = True,
) -> tuple[str | None, str]:
    """The server-wide token and where it came from.

    Returns:
        ``(token, source)``, source one of ``given`` (the command line),
        ``file``, ``env``, ``dev`` (no token), ``stored`` or ``new``; with
        ``generate=False``, ``(None, "none")`` instead of ``new``.

    Raises:
        TokenError: ``token_file`` is unreadable or empty.
    """
    if given:
        _log.warning(
            "the server token was given with --inspector-token: every local user can read it "
            "in the process list; use --inspector-token-file or %s instead",
            TOKEN_ENV,
        )
        return given, "given"
    if token_file is not None:
        return _read_token_file(token_file), "file"
    from_env = environ.get(TOKEN_ENV, "").strip()
    if from_env:
        return from_env, "env"
    if dev:
        return None, "dev"
    path = data_dir / TOKEN_FILE
    if path.exists():
        private_file(path)  # an older version's, or a hand-made one: 0600
        token = path.read_text().strip()
        if token:
            return token, "stored"
    if not generate:
        return None, "none"
    private_dir(data_dir)
    token = secrets.token_hex(24)
    # Created 0600 from the start: the secret is never world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, "new"


def _read_token_file(path: Path) -> str:
    try:
        text = path.read_text()
        mode = stat.S_IMODE(path.stat().st_mode)
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenError(f"cannot read the token file {path}: {exc}") from exc
    lines = text.strip().splitlines()
    token = lines[0].strip() if lines else ""
    if not token:
        raise TokenError(f"the token file {path} is empty")
    if mode & 0o077:
        _log.warning("the token file %s is readable by other users (mode %03o)", path, mode)
    return token
