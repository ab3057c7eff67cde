"""``actorscope serve`` as a real subprocess: banner, token handling, dev mode."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import httpx
from actorscope.protocol.versions import NEWEST_VERSION
from actorscope.server.cli import build_parser

TIMEOUT = 5.0
DEMO = {"counter/demo", "order/demo", "steps/demo", "inventory/demo", "heartbeat/demo"}


async def test_new_token_is_printed_once_and_stored(tmp_path: Path, serve_process: Any) -> None:
    data = tmp_path / "data"
    first = await serve_process("--demo", "--data", str(data))
    assert first.url.startswith("http://127.0.0.1:")
    assert first.token is not None
    token_file = data / "server-token"
    assert token_file.read_text().strip() == first.token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert set(first.actors) == DEMO
    assert any("Authorization: Bearer <token>" in line for line in first.output)
    # The ready-to-paste curl line names one of the printed actors.
    curls = [line for line in first.output if "/inspector/summary" in line and "curl" in line]
    assert len(curls) == 1
    assert any(
        f"/gateway/{actor_id}/inspector/summary" in curls[0] for actor_id in first.actors.values()
    )

    headers = {"Authorization": f"Bearer {first.token}"}
    async with httpx.AsyncClient(base_url=first.url, headers=headers, timeout=TIMEOUT) as http:
        listed = (await http.get("/actors")).json()["actors"]
        assert {f"{a['name']}/{a['key']}": a["actor_id"] for a in listed} == first.actors
        async with httpx.AsyncClient(base_url=first.url, timeout=TIMEOUT) as anonymous:
            assert (await anonymous.get("/actors")).status_code == 401
    first.kill()
    await first.proc.wait()

    second = await serve_process("--demo", "--data", str(data))
    # Reused, and not printed again; the banner says where it is.
    assert second.token is None
    assert not any(first.token in line for line in second.output)
    assert any(str(token_file) in line for line in second.output)
    assert second.actors == first.actors
    async with httpx.AsyncClient(base_url=second.url, headers=headers, timeout=TIMEOUT) as http:
        assert (await http.get("/actors")).status_code == 200


async def test_given_token(tmp_path: Path, serve_process: Any) -> None:
    running = await serve_process("--demo", "--data", str(tmp_path), "--inspector-token", "s3cret")
    assert running.token is None
    assert not (tmp_path / "server-token").exists()
    counter = running.actors["counter/demo"]
    async with httpx.AsyncClient(base_url=running.url, timeout=TIMEOUT) as http:
        url = f"/gateway/{counter}/inspector/state"
        assert (await http.get(url)).status_code == 401
        r = await http.get(url, headers={"Authorization": "Bearer s3cret"})
        assert r.json() == {"state": {"count": 0}, "isStateEnabled": True}


async def test_dev_mode_says_auth_is_off(tmp_path: Path, serve_process: Any) -> None:
    running = await serve_process("--demo", "--dev", "--data", str(tmp_path))
    assert running.token is None
    assert any(line.startswith("auth: OFF") for line in running.output)
    assert not (tmp_path / "server-token").exists()
    async with httpx.AsyncClient(base_url=running.url, timeout=TIMEOUT) as http:
        assert (await http.get("/actors")).status_code == 200
        counter = running.actors["counter/demo"]
        r = await http.post(f"/gateway/{counter}/inspector/action/increment", json={"args": [2]})
        assert r.json() == {"output": 2}
    assert "auth is OFF" in running.log_text()


async def test_without_demo_there_are_no_actors(tmp_path: Path, serve_process: Any) -> None:
    running = await serve_process("--data", str(tmp_path), "--max-protocol-version", "3")
    assert running.actors == {}
    assert any("v1-v3" in line for line in running.output)


def test_parser_defaults() -> None:
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.dev, args.demo) == ("127.0.0.1", 6420, False, False)
    assert args.max_protocol_version == NEWEST_VERSION and args.inspector_token is None
    assert args.value_codec == "cbor"
    assert args.data == Path(".actorscope")
