"""``InspectorClient`` edge cases against a scripted ``websockets`` server.

Timeouts, an ``Error`` frame nobody waits for, a late answer to a request that
timed out, and the server closing mid-request — what a real actorscope server
never does on purpose, so a small fake plays the server here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from actorscope.client import (
    InspectorClient,
    InspectorConnectionClosed,
    InspectorRequestError,
    InspectorTimeout,
    ServerError,
)
from actorscope.protocol.framing import NEWEST_VERSION, decode_to_server, encode_to_client
from actorscope.protocol.messages import Error, Init, StateRequest, StateResponse, ToClient
from websockets.asyncio.server import ServerConnection, serve

Script = Callable[[ServerConnection], Awaitable[None]]
INIT = ToClient(
    Init(
        connections=[],
        state=b"\xa0",  # {} in CBOR, the value codec the client asks for by default
        is_state_enabled=True,
        rpcs=[],
        is_database_enabled=False,
        queue_size=0,
        workflow_history=None,
        is_workflow_enabled=False,
        tab_config=[],
        schedules=[],
    )
)


async def _send(ws: ServerConnection, message: Any) -> None:
    wrapped = message if isinstance(message, ToClient) else ToClient(message)
    await ws.send(encode_to_client(wrapped, NEWEST_VERSION, prefix=False))


async def _requests(ws: ServerConnection) -> AsyncIterator[Any]:
    async for frame in ws:
        assert isinstance(frame, bytes)
        _, msg = decode_to_server(frame, NEWEST_VERSION)
        yield msg.body


@pytest.fixture
async def fake() -> AsyncIterator[Callable[[Script], Awaitable[str]]]:
    servers: list[Any] = []

    async def start(script: Script) -> str:
        async def handler(ws: ServerConnection) -> None:
            await _send(ws, INIT)
            await script(ws)

        server = await serve(handler, "127.0.0.1", 0)
        servers.append(server)
        port = next(iter(server.sockets)).getsockname()[1]
        return f"http://127.0.0.1:{port}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_silence_is_a_timeout_and_a_late_answer_is_ignored(fake: Any) -> None:
    async def script(ws: ServerConnection) -> None:
        first = True
        async for request in _requests(ws):
            if first:  # answer the first request only after the client gave up
                first = False
                await asyncio.sleep(0.3)
            await _send(ws, StateResponse(rid=request.id, state=b"\x01", is_state_enabled=True))

    async with InspectorClient(await fake(script), "a", timeout=0.1) as client:
        assert client.init is not None and client.init.state == {}
        with pytest.raises(InspectorTimeout):
            await client.state()
        await asyncio.sleep(0.3)  # the late StateResponse arrives and is dropped
        client.timeout = 2.0
        assert await client.state() == 1


async def test_an_error_nobody_waits_for_is_a_push(fake: Any) -> None:
    async def script(ws: ServerConnection) -> None:
        await _send(ws, Error(message="inspector.events_dropped"))
        async for request in _requests(ws):
            assert isinstance(request, StateRequest)
            await _send(ws, Error(message="actor.state_not_enabled: this actor has no state"))

    async with InspectorClient(await fake(script), "a", timeout=2.0) as client:
        await client.next_push()  # Init
        assert await client.next_push() == ServerError(
            code="inspector.events_dropped", message="inspector.events_dropped"
        )
        with pytest.raises(InspectorRequestError) as info:
            await client.state()
        assert info.value.code == "actor.state_not_enabled"
        assert info.value.detail == "this actor has no state"


async def test_close_mid_request_fails_the_request_and_ends_pushes(fake: Any) -> None:
    async def script(ws: ServerConnection) -> None:
        async for _ in _requests(ws):
            await ws.close(1008, "inspector.send_queue_overflow")

    async with InspectorClient(await fake(script), "a", timeout=2.0) as client:
        with pytest.raises(InspectorConnectionClosed) as info:
            await client.state()
        assert (info.value.code, info.value.reason) == (1008, "inspector.send_queue_overflow")
        pushes = [p async for p in client.pushes()]
        assert len(pushes) == 1  # just the Init, then the iteration ends
        with pytest.raises(InspectorConnectionClosed):
            await client.rpcs()
