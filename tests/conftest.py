"""Fixtures every test package may use.

``npm_package`` — ``npm_package("rivetkit@2.3.19") -> Path`` installs an npm
package (with its dependencies) into a cache outside the repository and
returns the directory that holds its ``node_modules``. RivetKit's own clients
and its Inspector UI build are tested against but never committed, so they
are fetched from the npm registry at test time. The cache is
``$ACTORSCOPE_TEST_CACHE`` or ``~/.cache/actorscope-tests``; an install is
reused once it finished (a marker file), and concurrent test processes
serialize on a lock file.

``postgres_cluster`` — one throwaway PostgreSQL server per session, started
from Debian's ``postgresql`` binaries in a temp dir on a loopback port
(``tests/pgcluster.py``); ``postgres_dsn`` — a fresh database on it per test.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["test_cache_dir"]


def test_cache_dir() -> Path:
    root = os.environ.get("ACTORSCOPE_TEST_CACHE") or Path.home() / ".cache" / "actorscope-tests"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _install(spec: str) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed to fetch RivetKit's clients: apt-get install -y nodejs npm")
    target = test_cache_dir() / "npm" / spec.replace("/", "+")
    target.mkdir(parents=True, exist_ok=True)
    done = target / ".installed"
    with open(target / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            manifest = '{"name": "actorscope-test-cache", "private": true}\n'
            (target / "package.json").write_text(manifest)
            result = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", spec],
                cwd=target,
                capture_output=True,
                text=True,
                timeout=600,
            )
            if result.returncode != 0:
                pytest.fail(f"npm install {spec} failed:\n{result.stdout}\n{result.stderr}")
            done.write_text(spec + "\n")
    return target


@pytest.fixture(scope="session")
def npm_package() -> Callable[[str], Path]:
    return _install


# -- PostgreSQL -------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Any]:
    """One throwaway PostgreSQL server for the whole session (``tests/pgcluster.py``)."""
    pgcluster = _load_sibling("pgcluster")
    bin_dir = pgcluster.find_pg_bin()
    if bin_dir is None:
        pytest.fail(pgcluster.INSTALL_HINT)
    cluster = pgcluster.PgCluster(bin_dir).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_dsn(postgres_cluster: Any) -> Iterator[str]:
    """A connection string to a fresh, empty database, dropped after the test."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_cluster.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres_cluster.dsn(name)
    with psycopg.connect(postgres_cluster.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _load_sibling(name: str) -> Any:
    # Tests run with --import-mode=importlib, so tests/ is not on sys.path.
    spec = importlib.util.spec_from_file_location(
        f"_actorscope_tests_{name}", Path(__file__).with_name(f"{name}.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
