"""One server token for a cluster: real ``actorscope serve`` nodes on one real PostgreSQL.

The first node records its token's hash in the database; a node with
another token, or with none once one is recorded, refuses to start with
exit code 2 and one line saying what to do; a cluster whose first node had
no token gets a generated one, printed once and stored in that node's data
directory. Tokens never appear in the database, the messages or the logs.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from actorscope.server.cluster_token import hash_token, token_matches

LEASE_MS = 1500
TOKEN = "the-cluster-token-0123456789"
OTHER = "another-token-9876543210abc"


def _token_file(tmp_path: Path, name: str, token: str) -> Path:
    path = tmp_path / name
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


def _args(tmp_path: Path, dsn: str, node_id: str, *extra: str) -> list[str]:
    return [
        "--demo",
        "--store",
        dsn,
        "--node-id",
        node_id,
        "--lease-ms",
        str(LEASE_MS),
        "--data",
        str(tmp_path / node_id),
        *extra,
    ]


async def _refused(tmp_path: Path, dsn: str, node_id: str, *extra: str, **env: str) -> str:
    """Run a node that must refuse to start; returns the line saying why.

    Neither token, nor the password of ``dsn``, is anywhere in its output.
    """
    environ = {k: v for k, v in os.environ.items() if k != "ACTORSCOPE_INSPECTOR_TOKEN"}
    environ.update(env)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "actorscope",
        "serve",
        "--port",
        "0",
        *_args(tmp_path, dsn, node_id, *extra),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environ,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 2, (out.decode(), err.decode())
    text = err.decode()
    assert "actorscope serving on" not in out.decode()
    # One line says what is wrong and what to do; no traceback.
    (line,) = [x for x in text.splitlines() if x.startswith("actorscope serve:")]
    assert text.rstrip().endswith(line) and "Traceback" not in text
    assert TOKEN not in text and OTHER not in text
    password = psycopg.conninfo.conninfo_to_dict(dsn).get("password")
    assert not password or password not in text + out.decode()
    return line


def _recorded(dsn: str) -> list[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT hash, recorded_by FROM actorscope.cluster_token").fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


async def _summary(url: str, actor: str, token: str) -> int:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.get(
            f"{url}/gateway/{actor}/inspector/summary",
            headers={"Authorization": f"Bearer {token}"},
        )
    return answer.status_code


async def test_nodes_share_the_first_nodes_token_and_a_different_one_is_refused(
    serve_process: Any, tmp_path: Path, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACTORSCOPE_INSPECTOR_TOKEN", raising=False)
    good = _token_file(tmp_path, "token", TOKEN)
    a = await serve_process(
        *_args(tmp_path, postgres_dsn, "a", "--inspector-token-file", str(good))
    )
    ((hashed, by),) = _recorded(postgres_dsn)
    assert by == "a" and TOKEN not in hashed and token_matches(TOKEN, hashed)
    # The same token from the environment joins.
    monkeypatch.setenv("ACTORSCOPE_INSPECTOR_TOKEN", TOKEN)
    b = await serve_process(*_args(tmp_path, postgres_dsn, "b"))
    monkeypatch.delenv("ACTORSCOPE_INSPECTOR_TOKEN")
    counter = a.actors["counter/demo"]
    for node in (a, b):
        assert await _summary(node.url, counter, TOKEN) == 200
    # Another token, from a file or the environment, is refused.
    bad = _token_file(tmp_path, "other", OTHER)
    line = await _refused(tmp_path, postgres_dsn, "c", "--inspector-token-file", str(bad))
    assert "not the cluster's" in line and "--inspector-token-file" in line
    line = await _refused(tmp_path, postgres_dsn, "c", ACTORSCOPE_INSPECTOR_TOKEN=OTHER)
    assert "$ACTORSCOPE_INSPECTOR_TOKEN" in line and "not the cluster's" in line
    # No token at all, or --dev without one, is refused too: a token is recorded.
    line = await _refused(tmp_path, postgres_dsn, "c")
    assert "this node has none" in line
    line = await _refused(tmp_path, postgres_dsn, "c", "--dev")
    assert "auth off" in line
    assert _recorded(postgres_dsn) == [(hashed, "a")]  # the refusals changed nothing
    for node in (a, b):
        assert await _summary(node.url, counter, OTHER) == 401
        assert OTHER not in node.log_text() and TOKEN not in node.log_text()


async def test_a_cluster_started_without_a_token_gets_one_from_its_first_node(
    serve_process: Any, tmp_path: Path, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACTORSCOPE_INSPECTOR_TOKEN", raising=False)
    a = await serve_process(*_args(tmp_path, postgres_dsn, "a"))
    assert a.token is not None  # printed once, as a lone server's new token
    stored = tmp_path / "a" / "server-token"
    assert stored.read_text().strip() == a.token
    assert stored.stat().st_mode & 0o077 == 0
    ((hashed, _),) = _recorded(postgres_dsn)
    assert token_matches(a.token, hashed) and a.token not in hashed
    # A second node without a token cannot guess it: refused, nothing generated.
    line = await _refused(tmp_path, postgres_dsn, "b")
    assert "this node has none" in line
    assert not (tmp_path / "b" / "server-token").exists()
    b = await serve_process(
        *_args(tmp_path, postgres_dsn, "b", "--inspector-token-file", str(stored))
    )
    counter = a.actors["counter/demo"]
    assert await _summary(b.url, counter, a.token) == 200
    # The first node restarted on its data directory uses its stored token again.
    a.proc.terminate()
    assert await asyncio.wait_for(a.proc.wait(), 60) == 0
    again = await serve_process(*_args(tmp_path, postgres_dsn, "a"))
    assert again.token is None
    assert any("server token: stored in" in line for line in again.output)
    assert await _summary(again.url, counter, a.token) == 200
    # A data directory holding another token (say, of a lone server) is named.
    (tmp_path / "d").mkdir()
    _token_file(tmp_path / "d", "server-token", OTHER)
    line = await _refused(tmp_path, postgres_dsn, "d")
    assert f"stored in {tmp_path / 'd' / 'server-token'}" in line


def test_token_hashes_are_salted_and_checked() -> None:
    first, second = hash_token(TOKEN), hash_token(TOKEN)
    assert first != second and TOKEN not in first
    assert token_matches(TOKEN, first) and token_matches(TOKEN, second)
    assert not token_matches(OTHER, first)
    assert not token_matches(TOKEN, "garbage") and not token_matches(TOKEN, "md5$1$1$1$00$00")


async def test_an_unreachable_database_is_one_line_without_the_password(tmp_path: Path) -> None:
    dsn = "postgresql://someone:hunter2-secret@127.0.0.1:1/nowhere?connect_timeout=5"
    line = await _refused(tmp_path, dsn, "a", ACTORSCOPE_INSPECTOR_TOKEN=TOKEN)
    assert "cannot reach the cluster's database" in line
