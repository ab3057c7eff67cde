"""Fixtures every test package may use.

``npm_package`` — ``npm_package("rivetkit@2.3.19") -> Path`` installs an npm
package (with its dependencies) into a cache outside the repository and
returns the directory that holds its ``node_modules``. RivetKit's own clients
and its Inspector UI build are tested against but never committed, so they
are fetched from the npm registry at test time. The cache is
``$ACTORSCOPE_TEST_CACHE`` or ``~/.cache/actorscope-tests``; an install is
reused once it finished (a marker file), and concurrent test processes
serialize on a lock file.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

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
