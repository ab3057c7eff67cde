"""``actorscope serve`` as a real subprocess: file modes, where its token comes from, limits."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from actorscope.server.server_token import TOKEN_ENV

TIMEOUT = 30.0


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    # The usual default: files 0644 and directories 0755 unless created tighter.
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        out[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return out


async def _wait_for_files(data: Path, names: list[str]) -> None:
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while not all((data / name).exists() for name in names):
        assert asyncio.get_running_loop().time() < deadline, f"missing: {names}"
        await asyncio.sleep(0.05)


# file modes -------------------------------------------------------------------------


async def test_data_directory_is_0700_and_every_file_0600(
    tmp_path: Path, serve_process: Any
) -> None:
    data = tmp_path / "data"
    with _umask(0o022):
        running = await serve_process("--demo", "--data", str(data))
    inventory = running.actors["inventory/demo"]
    await _wait_for_files(
        data,
        [
            "actorscope.sqlite-wal",
            "actorscope.sqlite-shm",
            "server-token",
            f"actors/{inventory}.sqlite",
            f"actors/{inventory}.sqlite-wal",
        ],
    )
    modes = _modes(data)
    dirs = {name: mode for name, mode in modes.items() if (data / name).is_dir()}
    files = {name: mode for name, mode in modes.items() if not (data / name).is_dir()}
    assert dirs == {".": 0o700, "actors": 0o700}
    assert files and all(mode == 0o600 for mode in files.values()), files
    assert "open to other users" not in running.log_text()


async def test_an_existing_looser_directory_is_warned_about(
    tmp_path: Path, serve_process: Any
) -> None:
    data = tmp_path / "group-readable"
    data.mkdir()
    os.chmod(data, 0o755)
    with _umask(0o022):
        running = await serve_process("--demo", "--data", str(data))
    await _wait_for_files(data, ["actorscope.sqlite-wal"])
    assert "open to other users (mode 755)" in running.log_text()
    assert stat.S_IMODE(data.stat().st_mode) == 0o755  # warned about, not changed
    assert stat.S_IMODE((data / "actorscope.sqlite").stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "actorscope.sqlite-wal").stat().st_mode) == 0o600


async def test_files_left_loose_by_an_older_version_are_tightened(
    tmp_path: Path, serve_process: Any
) -> None:
    data = tmp_path / "data"
    first = await serve_process("--demo", "--data", str(data))
    first.kill()
    await first.proc.wait()
    ours = [data / "actorscope.sqlite", *data.glob("actorscope.sqlite-*"), data / "server-token"]
    ours += list((data / "actors").glob("*.sqlite*"))
    for path in ours:
        os.chmod(path, 0o644)
    await serve_process("--demo", "--data", str(data))
    for path in ours:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


# where the token comes from ------------------------------------------------------------


async def _token_works(url: str, actor_id: str, token: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as http:
        path = f"/gateway/{actor_id}/inspector/state"
        assert (await http.get(path)).status_code == 401
        r = await http.get(path, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


async def test_token_from_the_environment(
    tmp_path: Path, serve_process: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "env-token-0123456789abcdef"
    monkeypatch.setenv(TOKEN_ENV, token)
    running = await serve_process("--demo", "--data", str(tmp_path))
    assert running.token is None  # not printed
    assert any(TOKEN_ENV in line for line in running.output)
    assert token.encode() not in _cmdline(running.proc.pid)
    assert not (tmp_path / "server-token").exists()
    await _token_works(running.url, running.actors["counter/demo"], token)
    assert "process list" not in running.log_text()


async def test_token_from_a_file(tmp_path: Path, serve_process: Any) -> None:
    token = "file-token-0123456789abcdef"
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    os.chmod(token_file, 0o600)
    running = await serve_process(
        "--demo", "--data", str(tmp_path / "data"), "--inspector-token-file", str(token_file)
    )
    assert running.token is None
    assert any("--inspector-token-file" in line for line in running.output)
    assert token.encode() not in _cmdline(running.proc.pid)
    await _token_works(running.url, running.actors["counter/demo"], token)
    log = running.log_text()
    assert "process list" not in log and "readable by other users" not in log


async def test_token_on_the_command_line_is_warned_about(
    tmp_path: Path, serve_process: Any
) -> None:
    running = await serve_process("--demo", "--data", str(tmp_path), "--inspector-token", "s3cret")
    await _token_works(running.url, running.actors["counter/demo"], "s3cret")
    assert "process list" in running.log_text()


async def test_a_loose_token_file_is_warned_about(tmp_path: Path, serve_process: Any) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("loose-token-0123456789\n")
    os.chmod(token_file, 0o644)
    running = await serve_process(
        "--demo", "--data", str(tmp_path / "data"), "--inspector-token-file", str(token_file)
    )
    await _token_works(running.url, running.actors["counter/demo"], "loose-token-0123456789")
    assert "readable by other users" in running.log_text()


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actorscope", "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_an_unusable_token_file_is_a_usage_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for path, reason in ((empty, "is empty"), (tmp_path / "missing", "cannot read")):
        done = _serve(
            "--demo", "--data", str(tmp_path / "data"), "--inspector-token-file", str(path)
        )
        assert done.returncode == 2
        assert reason in done.stderr, done.stderr


def test_token_and_token_file_together_are_refused(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("t\n")
    done = _serve("--inspector-token", "t", "--inspector-token-file", str(token_file))
    assert done.returncode == 2 and "not allowed with" in done.stderr


def test_help_recommends_the_file_and_the_environment() -> None:
    done = _serve("--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "--inspector-token-file" in text and TOKEN_ENV in text
    assert "prefer --inspector-token-file" in text
    assert "--max-body-bytes" in text and "--header-timeout" in text


# limit flags -------------------------------------------------------------------------


async def test_limit_flags(tmp_path: Path, serve_process: Any) -> None:
    running = await serve_process(
        "--demo", "--data", str(tmp_path), "--max-body-bytes", "1000", "--header-timeout", "0.5"
    )
    assert running.token is not None
    counter = running.actors["counter/demo"]
    headers = {"Authorization": f"Bearer {running.token}"}
    async with httpx.AsyncClient(base_url=running.url, headers=headers, timeout=TIMEOUT) as http:
        path = f"/gateway/{counter}/inspector/state"
        r = await http.patch(path, json={"state": {"pad": "p" * 2000}})
        assert r.status_code == 413 and r.json()["code"] == "too_large"
        assert (await http.patch(path, json={"state": {"pad": "p"}})).status_code == 200
    host, port = running.url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""  # idle: closed
    finally:
        writer.close()
