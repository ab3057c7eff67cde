"""Forwarding a request for an actor to the node that owns it.

In a cluster any node may receive a request for any actor (HTTP, the
inspector WebSocket, client connections). A node that does not own the actor
passes the request on, unchanged, to the owner's registered address and
relays the answer back: the owner authorizes it (the caller's own token
travels with it), serves it and audits it, exactly as if the caller had
reached it directly.

* HTTP: method, path, query, body and end-to-end headers go out; the status,
  headers and body come back. ``X-Actorscope-Forwarded-By`` names the
  forwarding node, so an owner that has meanwhile lost the actor answers
  503 instead of forwarding again (no loops).
* WebSocket: the handshake is repeated toward the owner with the same path,
  query, subprotocols and ``Authorization`` header; the subprotocol the
  owner selects is the one accepted here; then frames are relayed both ways
  until either side closes, and the close code and reason travel across.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

__all__ = ["FORWARDED_BY", "Forwarder"]

#: Set on a forwarded request; an owner never forwards such a request again.
FORWARDED_BY = "x-actorscope-forwarded-by"

# Hop-by-hop headers (RFC 9110 §7.6.1) and the ones the client library sets.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


class Forwarder:
    """Passes requests on to other nodes; one per node (it holds a connection pool)."""

    def __init__(self, node_id: str, *, timeout: float = 30.0) -> None:
        self.node_id = node_id
        self._http = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def close(self) -> None:
        await self._http.aclose()

    async def http(self, request: Request, owner_url: str) -> Response:
        """Send ``request`` to ``owner_url`` (``http://host:port``) and return its answer."""
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP]
        headers.append((FORWARDED_BY, self.node_id))
        url = owner_url.rstrip("/") + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        try:
            answer = await self._http.request(
                request.method, url, headers=headers, content=await request.body()
            )
        except httpx.HTTPError as exc:
            return _unavailable(f"the owner node at {owner_url} did not answer: {exc}")
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
        kept.pop("content-encoding", None)  # httpx has decoded the body already
        return Response(answer.content, status_code=answer.status_code, headers=kept)

    async def websocket(self, websocket: WebSocket, owner_ws_url: str) -> None:
        """Relay ``websocket`` (not yet accepted) to ``owner_ws_url`` (``ws://host:port``)."""
        target = owner_ws_url.rstrip("/") + websocket.url.path
        if websocket.url.query:
            target += "?" + websocket.url.query
        offered = [Subprotocol(p) for p in websocket.scope.get("subprotocols", [])]
        extra: list[tuple[str, str]] = [(FORWARDED_BY, self.node_id)]
        auth = websocket.headers.get("authorization")
        if auth is not None:
            extra.append(("authorization", auth))
        try:
            upstream = await connect(
                target,
                subprotocols=offered or None,
                additional_headers=extra,
                compression=None,
                max_size=None,
                open_timeout=30,
            )
        except InvalidStatus as exc:
            # The owner refused the handshake (e.g. 401): refuse ours the same way.
            await websocket.close(
                code=1008, reason=f"owner refused: HTTP {exc.response.status_code}"
            )
            return
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            await websocket.close(code=1011, reason=f"owner node unreachable: {type(exc).__name__}")
            return
        await websocket.accept(subprotocol=upstream.subprotocol)
        await _relay(websocket, upstream)


async def _relay(websocket: WebSocket, upstream: ClientConnection) -> None:
    async def down() -> tuple[int, str]:
        # Owner → caller; ends with the owner's close code and reason.
        try:
            async for message in upstream:
                if isinstance(message, bytes):
                    await websocket.send_bytes(message)
                else:
                    await websocket.send_text(message)
        except ConnectionClosed:
            pass
        rcvd = upstream.protocol.close_rcvd
        return (rcvd.code, rcvd.reason) if rcvd is not None else (1011, "owner connection lost")

    async def up() -> None:
        # Caller → owner; ends when the caller goes away.
        try:
            while True:
                message: Any = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    await upstream.close(message.get("code", 1000), message.get("reason") or "")
                    return
                data = message.get("bytes")
                await upstream.send(data if data is not None else message.get("text", ""))
        except (WebSocketDisconnect, ConnectionClosed):
            await upstream.close()

    down_task = asyncio.create_task(down())
    up_task = asyncio.create_task(up())
    done, _ = await asyncio.wait({down_task, up_task}, return_when=asyncio.FIRST_COMPLETED)
    if down_task in done:
        code, reason = down_task.result()
        up_task.cancel()
        with contextlib.suppress(Exception):
            await websocket.close(code=code, reason=reason)
    else:
        with contextlib.suppress(asyncio.TimeoutError, Exception):
            await asyncio.wait_for(down_task, 5)
        down_task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await up_task


def _unavailable(message: str) -> Response:
    from starlette.responses import JSONResponse

    body = {"group": "cluster", "code": "owner_unavailable", "message": message}
    return JSONResponse(body, status_code=503)
