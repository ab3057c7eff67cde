"""No 500 for bad input: deep JSON, lone surrogates, out-of-range integers, on every route.

Each HTTP route that takes a body gets the same hostile bodies and must
answer 400 ``request.invalid`` without a traceback in the log; each
WebSocket handler that takes an integer or a value gets the extremes the
wire can carry and must answer (a reply, or an ``Error`` frame with a
stable code) and keep the connection usable.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import msgpack
import pytest
from websockets.asyncio.client import ClientConnection, connect

from actorscope.protocol.framing import decode_to_client, encode_to_server
from actorscope.protocol.messages import (
    ActionRequest,
    DatabaseTableRowsRequest,
    DatabaseTableRowsResponse,
    Error,
    Init,
    PatchStateRequest,
    QueueRequest,
    QueueResponse,
    StateRequest,
    StateResponse,
    ToClient,
    ToServer,
    TraceQueryRequest,
    TraceQueryResponse,
)
from actorscope.server.jsonbounds import MAX_DEPTH
from actorscope.server.runner import RunningServer

TIMEOUT = 30.0
U64_MAX = 2**64 - 1


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


# (route name, method, path for the demo ids, body with VALUE where the value goes)
ROUTES: list[tuple[str, str, Callable[[dict[str, str]], str], str]] = [
    ("patch-state", "PATCH", lambda ids: f"/gateway/{ids['counter']}/inspector/state",
     '{"state": VALUE}'),
    ("action", "POST", lambda ids: f"/gateway/{ids['counter']}/inspector/action/increment",
     '{"args": [VALUE]}'),
    ("replay", "POST", lambda ids: f"/gateway/{ids['order']}/inspector/workflow/replay",
     '{"dryRun": true, "reason": VALUE}'),
    ("put-actor", "PUT", lambda ids: "/actors", '{"name": "counter", "key": VALUE}'),
    ("queue", "POST", lambda ids: f"/gateway/{ids['order']}/queue/note", "VALUE"),
]
ROUTE_IDS = [route[0] for route in ROUTES]

BAD_VALUES = {
    # deepcopy spends two frames a level: 500 deep passes json and
    # MessagePack, then broke deepcopy; 600 broke MessagePack; 100,000 json.
    "deep-500": _deep(500),
    "deep-600": _deep(600),
    "deep-100000": _deep(100_000),
    "lone-surrogate": '"\\ud800"',
    "int-2**70": str(2**70),
}


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.WARNING)
    yield
    tracebacks = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not tracebacks, [r.getMessage() for r in tracebacks]


async def _send(
    server: RunningServer, auth: dict[str, str], method: str, path: str, body: str
) -> httpx.Response:
    headers = {**auth, "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=TIMEOUT) as http:
        return await http.request(method, path, content=body.encode("ascii"))


@pytest.mark.parametrize("value", list(BAD_VALUES), ids=list(BAD_VALUES))
@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_bad_json_values_are_400_on_every_route(
    server: RunningServer,
    demo_ids: dict[str, str],
    auth: dict[str, str],
    route: tuple[str, str, Callable[[dict[str, str]], str], str],
    value: str,
    no_tracebacks: None,
) -> None:
    _, method, path, template = route
    # Nothing else in these bodies is wrong, so only the value can be refused.
    body = template.replace("VALUE", BAD_VALUES[value])
    r = await _send(server, auth, method, path(demo_ids), body)
    assert r.status_code == 400, r.text
    assert (r.json()["group"], r.json()["code"]) == ("request", "invalid")


async def test_a_lone_surrogate_step_path_is_400(
    server: RunningServer, demo_ids: dict[str, str], auth: dict[str, str], no_tracebacks: None
) -> None:
    path = f"/gateway/{demo_ids['order']}/inspector/workflow/replay"
    for dry_run in ("true", "false"):
        body = f'{{"step": "items/\\ud800", "dryRun": {dry_run}}}'
        r = await _send(server, auth, "POST", path, body)
        assert r.status_code == 400, r.text
        assert (r.json()["group"], r.json()["code"]) == ("request", "invalid")


async def test_state_at_the_depth_bound_is_stored_and_read_back(
    server: RunningServer, demo_ids: dict[str, str], auth: dict[str, str]
) -> None:
    path = f"/gateway/{demo_ids['counter']}/inspector/state"
    state = _deep(MAX_DEPTH)
    r = await _send(server, auth, "PATCH", path, f'{{"state": {state}}}')
    assert r.status_code == 200, r.text
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as http:
        assert (await http.get(path)).json()["state"] == json.loads(state)
    r = await _send(server, auth, "PATCH", path, f'{{"state": {_deep(MAX_DEPTH + 1)}}}')
    assert r.status_code == 400


async def test_client_connection_frames_are_bounded_too(
    server: RunningServer, demo_ids: dict[str, str], no_tracebacks: None
) -> None:
    url = f"{server.ws_url}/gateway/{demo_ids['counter']}/connect"
    headers = {"Authorization": f"Bearer {server.server_token}"}
    async with connect(url, additional_headers=headers, open_timeout=TIMEOUT) as conn:
        for bad in BAD_VALUES.values():
            await conn.send(f'{{"type": "action", "id": 1, "name": "increment", "args": [{bad}]}}')
            answer = json.loads(await asyncio.wait_for(conn.recv(), TIMEOUT))
            assert (answer["type"], answer["code"]) == ("error", "invalid"), answer
        await conn.send('{"type": "action", "id": 2, "name": "increment", "args": [1]}')
        answer = {"type": "event"}
        while answer["type"] == "event":  # the count broadcast may come first
            answer = json.loads(await asyncio.wait_for(conn.recv(), TIMEOUT))
        assert answer == {"type": "action_result", "id": 2, "output": 1}


# WebSocket inspector ------------------------------------------------------------


class _Inspector:
    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn

    async def ask(self, body: Any) -> Any:
        await self.conn.send(encode_to_server(ToServer(body), 4, prefix=False))
        while True:
            frame = await asyncio.wait_for(self.conn.recv(), TIMEOUT)
            assert isinstance(frame, bytes)
            _, message = decode_to_client(frame, 4)
            assert isinstance(message, ToClient)
            reply = message.body
            if hasattr(reply, "rid") or isinstance(reply, Error):
                return reply  # pushes in between are skipped


async def _inspector(server: RunningServer, actor_id: str) -> _Inspector:
    query = "?protocol_version=4&value_codec=msgpack"  # whatever the server's default
    url = f"{server.ws_url}/gateway/{actor_id}/inspector/connect{query}"
    headers = {"Authorization": f"Bearer {server.server_token}"}
    conn = await connect(url, additional_headers=headers, open_timeout=TIMEOUT)
    frame = await asyncio.wait_for(conn.recv(), TIMEOUT)
    assert isinstance(frame, bytes)
    assert isinstance(decode_to_client(frame, 4)[1].body, Init)
    return _Inspector(conn)


@pytest.mark.parametrize(
    ("limit", "offset"),
    [(2**63, 0), (10, 2**63), (U64_MAX, U64_MAX)],
    ids=["limit-2**63", "offset-2**63", "both-u64-max"],
)
async def test_database_rows_with_integers_sqlite_cannot_take(
    server: RunningServer, demo_ids: dict[str, str], limit: int, offset: int, no_tracebacks: None
) -> None:
    peer = await _inspector(server, demo_ids["inventory"])
    async with peer.conn:
        reply = await peer.ask(
            DatabaseTableRowsRequest(id=1, table="items", limit=limit, offset=offset)
        )
        assert isinstance(reply, Error)
        assert reply.message.startswith("request.invalid: "), reply.message
        # The largest values SQLite takes are answered.
        reply = await peer.ask(
            DatabaseTableRowsRequest(id=2, table="items", limit=2**63 - 1, offset=0)
        )
        assert isinstance(reply, DatabaseTableRowsResponse) and reply.rid == 2


async def test_other_wire_integers_at_their_extremes_are_answered(
    server: RunningServer, demo_ids: dict[str, str], no_tracebacks: None
) -> None:
    peer = await _inspector(server, demo_ids["order"])
    async with peer.conn:
        reply = await peer.ask(
            TraceQueryRequest(id=U64_MAX, start_ms=U64_MAX, end_ms=U64_MAX, limit=U64_MAX)
        )
        assert isinstance(reply, TraceQueryResponse) and reply.rid == U64_MAX
        reply = await peer.ask(QueueRequest(id=3, limit=U64_MAX))
        assert isinstance(reply, QueueResponse) and reply.rid == 3


async def test_deep_values_over_websocket_are_error_frames(
    server: RunningServer, demo_ids: dict[str, str], no_tracebacks: None
) -> None:
    deep = msgpack.packb(json.loads(_deep(500)))
    peer = await _inspector(server, demo_ids["counter"])
    async with peer.conn:
        reply = await peer.ask(PatchStateRequest(state=deep))
        assert isinstance(reply, Error) and reply.message.startswith("request.invalid: ")
        args = msgpack.packb([json.loads(_deep(500))])
        reply = await peer.ask(ActionRequest(id=5, name="increment", args=args))
        assert isinstance(reply, Error) and reply.message.startswith("request.invalid: ")
        reply = await peer.ask(StateRequest(id=6))
        assert isinstance(reply, StateResponse)
        assert msgpack.unpackb(reply.state) == {"count": 0}  # nothing was stored
