"""Forwarding to an owner node: HTTP and WebSocket pass through unchanged, both ways.

Two real uvicorn servers on 127.0.0.1: an "owner" app, and a "front" app
whose every route forwards to it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from actorscope.server.forwarding import FORWARDED_BY, Forwarder


async def _echo_http(request: Request) -> Response:
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "body": (await request.body()).decode(),
            "auth": request.headers.get("authorization"),
            "forwarded_by": request.headers.get(FORWARDED_BY),
        },
        status_code=201 if request.method == "POST" else 200,
        headers={"x-owner": "yes"},
    )


async def _echo_ws(ws: WebSocket) -> None:
    if ws.headers.get("authorization") != "Bearer good":
        await ws.close(code=1008)
        return
    offered = ws.scope.get("subprotocols", [])
    await ws.accept(subprotocol=offered[0] if offered else None)
    await ws.send_bytes(b"init")
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "bye":
            await ws.close(code=4000, reason="owner says bye")
            return
        await ws.send_bytes(b"echo:" + (message.get("bytes") or message["text"].encode()))


async def _serve(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task, port


@pytest.fixture
async def front() -> AsyncIterator[int]:
    owner_app = Starlette(
        routes=[
            Route("/gateway/{rest:path}", _echo_http, methods=["GET", "POST", "PATCH"]),
            WebSocketRoute("/ws/{rest:path}", _echo_ws),
        ]
    )
    owner, owner_task, owner_port = await _serve(owner_app)
    forwarder = Forwarder("node-front")

    async def forward_http(request: Request) -> Response:
        return await forwarder.http(request, f"http://127.0.0.1:{owner_port}")

    async def forward_ws(ws: WebSocket) -> None:
        await forwarder.websocket(ws, f"ws://127.0.0.1:{owner_port}")

    front_app = Starlette(
        routes=[
            Route("/gateway/{rest:path}", forward_http, methods=["GET", "POST", "PATCH"]),
            WebSocketRoute("/ws/{rest:path}", forward_ws),
        ]
    )
    front_server, front_task, front_port = await _serve(front_app)
    yield front_port
    for server, task in ((front_server, front_task), (owner, owner_task)):
        server.should_exit = True
        await task
    await forwarder.close()


async def test_http_passes_through(front: int) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"http://127.0.0.1:{front}/gateway/a1/inspector/workflow/replay?x=1&y=2",
            content=b'{"entryId": "e"}',
            headers={"Authorization": "Bearer tok"},
        )
    assert answer.status_code == 201
    assert answer.headers["x-owner"] == "yes"
    assert answer.json() == {
        "method": "POST",
        "path": "/gateway/a1/inspector/workflow/replay",
        "query": "x=1&y=2",
        "body": '{"entryId": "e"}',
        "auth": "Bearer tok",
        "forwarded_by": "node-front",
    }


async def test_unreachable_owner_is_a_503_json(unused_port: int) -> None:
    forwarder = Forwarder("n")

    async def forward(request: Request) -> Response:
        return await forwarder.http(request, f"http://127.0.0.1:{unused_port}")

    app = Starlette(routes=[Route("/{p:path}", forward)])
    server, task, port = await _serve(app)
    try:
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"http://127.0.0.1:{port}/anything")
        assert answer.status_code == 503
        assert answer.json()["code"] == "owner_unavailable"
    finally:
        server.should_exit = True
        await task
        await forwarder.close()


async def test_websocket_relays_both_ways_with_subprotocol_and_close(front: int) -> None:
    url = f"ws://127.0.0.1:{front}/ws/a1/inspector/connect?protocol_version=6"
    async with connect(
        url,
        subprotocols=[Subprotocol("rivet"), Subprotocol("rivet_inspector_token.t")],
        additional_headers={"Authorization": "Bearer good"},
    ) as ws:
        assert ws.subprotocol == "rivet"
        assert await ws.recv() == b"init"
        await ws.send(b"\x01\x02")
        assert await ws.recv() == b"echo:\x01\x02"
        await ws.send("bye")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert (ws.close_code, ws.close_reason) == (4000, "owner says bye")


async def test_websocket_refused_by_the_owner_is_refused_here(front: int) -> None:
    url = f"ws://127.0.0.1:{front}/ws/a1/inspector/connect"
    with pytest.raises((InvalidStatus, ConnectionClosed)):
        async with connect(url, additional_headers={"Authorization": "Bearer bad"}) as ws:
            await asyncio.wait_for(ws.recv(), 10)


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port
