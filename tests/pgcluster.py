"""A throwaway PostgreSQL cluster for the tests: Debian's binaries, a temp dir, loopback.

``PgCluster.start()`` runs ``initdb`` into a fresh directory and starts the
server on 127.0.0.1 at a free port (and on a Unix socket in the same
directory); ``stop()`` stops it and removes everything. Run as root (as CI
does), the cluster runs as the ``postgres`` system user, which Debian's
package creates, because PostgreSQL refuses to run as root.

``fsync=off`` and ``synchronous_commit=off``: the tests kill actorscope
processes, never PostgreSQL, so the database's own durability on power loss
is not what they check, and without fsync the suite runs several times
faster on a loaded machine.

Imported by ``tests/conftest.py``, which provides the ``postgres_cluster``
(one per session) and ``postgres_dsn`` (a fresh database per test) fixtures.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PgCluster", "find_pg_bin"]

INSTALL_HINT = "PostgreSQL is needed for these tests: apt-get install -y postgresql"


def find_pg_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/N/bin`` with ``initdb`` (or ``$ACTORSCOPE_PG_BIN``)."""
    override = os.environ.get("ACTORSCOPE_PG_BIN")
    if override:
        return Path(override)
    root = Path("/usr/lib/postgresql")
    if not root.is_dir():
        return None
    versions = sorted(
        (p for p in root.iterdir() if (p / "bin" / "initdb").exists()),
        key=lambda p: int(p.name) if p.name.isdigit() else 0,
    )
    return versions[-1] / "bin" if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PgCluster:
    """One running PostgreSQL server; ``dsn(db)`` addresses a database on it."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="actorscope-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self._as_root = os.geteuid() == 0

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / argv[0]), *argv[1:]]
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=120)

    def start(self) -> PgCluster:
        if self._as_root:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync")
        for _attempt in range(5):
            self.port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                f"-c unix_socket_directories={self.root} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            started = self._run("pg_ctl", "-D", str(self.data), "-o", options, "-w",
                                "-t", "60", "-l", str(self.root / "log"), "start", check=False)
            if started.returncode == 0:
                return self
            time.sleep(0.2)  # the port was taken in between: try another
        log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start:\n{started.stderr}\n{log}")

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop",
                      check=False)
        shutil.rmtree(self.root, ignore_errors=True)
