"""Client connections (``/gateway/{id}/connect``) and how the inspector sees them."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from actorscope.server.definitions import ActorDefinition, Registry
from actorscope.server.inspector_api import ConnectionsChanged, InspectorEvent
from actorscope.server.runner import RunningServer

TIMEOUT = 5.0


def connect_url(server: RunningServer, actor_id: str, query: str = "") -> str:
    return f"{server.ws_url}/gateway/{actor_id}/connect{query}"


async def recv_json(ws: ClientConnection) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def recv_reply(ws: ClientConnection) -> Any:
    """The next frame that is not a broadcast event."""
    while (frame := await recv_json(ws))["type"] == "event":
        pass
    return frame


async def test_action_round_trip(
    server: RunningServer, demo_ids: dict[str, str], auth: dict[str, str]
) -> None:
    async with connect(connect_url(server, demo_ids["counter"]), additional_headers=auth) as ws:
        await ws.send(json.dumps({"type": "action", "id": 1, "name": "increment", "args": [3]}))
        assert await recv_reply(ws) == {"type": "action_result", "id": 1, "output": 3}
        await ws.send(json.dumps({"type": "action", "id": "b", "name": "get_count", "args": []}))
        assert await recv_reply(ws) == {"type": "action_result", "id": "b", "output": 3}


async def test_errors_keep_the_connection(
    server: RunningServer, demo_ids: dict[str, str], auth: dict[str, str]
) -> None:
    async with connect(connect_url(server, demo_ids["counter"]), additional_headers=auth) as ws:
        await ws.send(json.dumps({"type": "action", "id": 1, "name": "nope", "args": []}))
        reply = await recv_reply(ws)
        assert reply["type"] == "error" and reply["id"] == 1
        assert (reply["group"], reply["code"]) == ("actor", "action_not_found")
        await ws.send("{not json")
        reply = await recv_reply(ws)
        assert (reply["type"], reply["group"], reply["code"]) == ("error", "request", "invalid")
        await ws.send(b"\x00binary")
        assert (await recv_reply(ws))["code"] == "invalid"
        await ws.send(json.dumps({"type": "what", "id": 2}))
        reply = await recv_reply(ws)
        assert reply["id"] == 2 and reply["code"] == "invalid"
        await ws.send(json.dumps({"type": "action", "id": 3, "name": "increment", "args": []}))
        assert await recv_reply(ws) == {"type": "action_result", "id": 3, "output": 1}


async def test_broadcast_reaches_every_connection(
    server: RunningServer, demo_ids: dict[str, str], auth: dict[str, str]
) -> None:
    url = connect_url(server, demo_ids["counter"])
    async with (
        connect(url, additional_headers=auth) as a,
        connect(url, additional_headers=auth) as b,
    ):
        await a.send(json.dumps({"type": "action", "id": 1, "name": "increment", "args": [2]}))
        seen_by_a = [await recv_json(a), await recv_json(a)]
        assert {"type": "event", "name": "count", "args": [2]} in seen_by_a
        assert {"type": "action_result", "id": 1, "output": 2} in seen_by_a
        assert await recv_json(b) == {"type": "event", "name": "count", "args": [2]}


async def test_connections_are_listed_and_pushed(
    server: RunningServer, demo_ids: dict[str, str], auth: dict[str, str]
) -> None:
    actor = server.directory.get(demo_ids["counter"])
    assert actor is not None
    events: list[InspectorEvent] = []
    unsubscribe = actor.subscribe(events.append)
    url = connect_url(server, demo_ids["counter"], "?user=ada")
    inspector_url = f"/gateway/{demo_ids['counter']}/inspector/connections"
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as http:
        async with connect(url, additional_headers=auth) as ws:
            await ws.send(json.dumps({"type": "action", "id": 1, "name": "get_count", "args": []}))
            await recv_reply(ws)
            (listed,) = (await http.get(inspector_url)).json()["connections"]
            assert listed["details"]["params"] == {"user": "ada"}
            assert listed["details"]["remote"].startswith("127.0.0.1:")
            summary = (await http.get(f"/gateway/{demo_ids['counter']}/inspector/summary")).json()
            assert summary["connections"] == [listed]
        for _ in range(100):
            if not (await http.get(inspector_url)).json()["connections"]:
                break
            await asyncio.sleep(0.02)
        assert (await http.get(inspector_url)).json() == {"connections": []}
    unsubscribe()
    changes = [e for e in events if isinstance(e, ConnectionsChanged)]
    assert [len(c.connections) for c in changes] == [1, 0]
    assert changes[0].connections[0].id == listed["id"]


@pytest.mark.parametrize("which", ["none", "wrong", "other"])
async def test_connect_auth_refused(
    server: RunningServer, demo_ids: dict[str, str], which: str
) -> None:
    other = server.directory.get(demo_ids["order"])
    assert other is not None
    headers = {
        "none": {},
        "wrong": {"Authorization": "Bearer wrong"},
        "other": {"Authorization": f"Bearer {other.record.token}"},
    }[which]
    async with connect(connect_url(server, demo_ids["counter"]), additional_headers=headers) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (1008, "inspector.unauthorized")


async def test_connect_with_actor_token_subprotocol(
    server: RunningServer, demo_ids: dict[str, str]
) -> None:
    actor = server.directory.get(demo_ids["counter"])
    assert actor is not None
    protocols: Any = ["rivet", f"rivet_token.{actor.record.token}"]
    async with connect(connect_url(server, demo_ids["counter"]), subprotocols=protocols) as ws:
        assert ws.subprotocol == "rivet"
        await ws.send(json.dumps({"type": "action", "id": 1, "name": "get_count", "args": []}))
        assert await recv_reply(ws) == {"type": "action_result", "id": 1, "output": 0}


async def test_connect_unknown_actor(server: RunningServer, auth: dict[str, str]) -> None:
    async with connect(connect_url(server, "nope"), additional_headers=auth) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (1008, "actor.not_found")


async def wait_connections(actor: Any, count: int) -> None:
    for _ in range(250):
        if len(actor.connections()) == count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{len(actor.connections())} connections, expected {count}")


async def _raw_connect(
    port: int, path: str, token: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket client that completes the handshake and then never reads."""
    sock = socket.socket()
    # A small fixed receive buffer (no autotuning, which on loopback can
    # absorb tens of MB) so that not reading shows up at the server quickly.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.connect(("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    assert head.startswith(b"HTTP/1.1 101")
    # The writer is returned too: a collected StreamWriter closes its socket.
    return reader, writer


async def _drain_frames(reader: asyncio.StreamReader) -> tuple[int, tuple[int, str] | None]:
    """Read server frames until a close frame (its code and reason) or EOF (None)."""
    frames = 0
    try:
        while True:
            b0, b1 = await asyncio.wait_for(reader.readexactly(2), TIMEOUT)
            length = b1 & 0x7F
            if length == 126:
                length = int.from_bytes(await reader.readexactly(2), "big")
            elif length == 127:
                length = int.from_bytes(await reader.readexactly(8), "big")
            payload = await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
            if b0 & 0x0F == 0x8:
                return frames, (int.from_bytes(payload[:2], "big"), payload[2:].decode())
            frames += 1
    except asyncio.IncompleteReadError:
        return frames, None


async def test_slow_reader_is_disconnected(server_factory: Any, auth: dict[str, str]) -> None:
    def flood(ctx: Any, n: int) -> int:
        for i in range(n):
            ctx.broadcast("tick", i, "x" * 100_000)
        return n

    registry = Registry([ActorDefinition("flood", None, {"flood": flood})])
    srv = await server_factory(registry=registry)
    actor = srv.directory.actors()[0]
    slow, _keep = await _raw_connect(
        srv.port, f"/gateway/{actor.actor_id}/connect", srv.server_token
    )
    url = connect_url(srv, actor.actor_id)
    async with connect(url, additional_headers=auth, max_size=None) as caller:
        await wait_connections(actor, 2)
        # The caller reads everything; the slow peer never reads and is cut
        # off once its queue passes the bound, without hurting the caller.
        for call in range(10):
            await caller.send(
                json.dumps({"type": "action", "id": call, "name": "flood", "args": [20]})
            )
            ticks = 0
            while (frame := await recv_json(caller))["type"] == "event":
                ticks += 1
            assert frame == {"type": "action_result", "id": call, "output": 20}
            assert ticks == 20
        await wait_connections(actor, 1)
        # What the slow peer gets when it finally reads: part of the events,
        # then the close frame (or, if it took too long even for that, EOF).
        ticks, close = await _drain_frames(slow)
        assert ticks < 10 * 20
        assert close in (None, (1008, "client.send_queue_overflow"))
        # The caller still works.
        await caller.send(json.dumps({"type": "action", "id": "x", "name": "flood", "args": [0]}))
        assert await recv_json(caller) == {"type": "action_result", "id": "x", "output": 0}


async def test_queue_post_auth(server: RunningServer, demo_ids: dict[str, str]) -> None:
    order = server.directory.get(demo_ids["order"])
    counter = server.directory.get(demo_ids["counter"])
    assert order is not None and counter is not None
    url = f"/gateway/{demo_ids['order']}/queue/note"
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        for headers in ({}, {"Authorization": f"Bearer {counter.record.token}"}):
            r = await http.post(url, json=1, headers=headers)
            assert r.status_code == 401 and r.json()["code"] == "unauthorized"
        own = {"Authorization": f"Bearer {order.record.token}"}
        assert (await http.post(url, json=1, headers=own)).json() == {"ok": True, "queueSize": 1}
        server_wide = {"Authorization": f"Bearer {server.server_token}"}
        r = await http.post("/gateway/nope/queue/note", json=1, headers=server_wide)
        assert r.status_code == 404 and r.json()["code"] == "not_found"
