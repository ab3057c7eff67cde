"""The client side of an actor: action connections and the workflow queue.

* ``/gateway/{actorId}/connect`` — a WebSocket of JSON text frames. The client
  sends ``{"type": "action", "id", "name", "args"}`` and gets
  ``{"type": "action_result", "id", "output"}`` or ``{"type": "error", "id",
  "group", "code", "message"}``; events the actor broadcasts arrive as
  ``{"type": "event", "name", "args"}``. These are the connections the
  inspector lists (``ConnectionsUpdated`` on connect and disconnect).
* ``POST /gateway/{actorId}/queue/{name}`` — the JSON body is a message for
  the workflow's ``ctx.queue.next(name)``.

Both take the same credentials as the inspector: ``Authorization: Bearer``,
or for the WebSocket the subprotocol ``rivet_token.{t}`` (browsers cannot set
headers). Outgoing frames go through a bounded queue per connection; a
client that does not read is disconnected (1008) instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from . import errors, jsonbounds
from .actor import ActorInstance
from .directory import ActorSystem
from .http_api import authorized_actor, error_response, internal_error, read_json
from .inspector_api import ConnectionInfo
from .jsonvalues import to_jsonable

__all__ = ["ClientConnection", "gateway_routes"]

log = logging.getLogger("actorscope.server")

#: Frames / bytes a client may have waiting before it counts as not reading.
SEND_QUEUE_FRAMES = 1024
SEND_QUEUE_BYTES = 4 << 20
#: Seconds to wait for a non-reading peer to take the close frame.
CLOSE_TIMEOUT = 1.0


class ClientConnection:
    """One live client connection: the ``EventSink`` the actor broadcasts to."""

    def __init__(self, websocket: WebSocket, info: ConnectionInfo) -> None:
        self._ws = websocket
        self._info = info
        self._outbox: deque[str | None] = deque()
        self._queued_bytes = 0
        self._wakeup = asyncio.Event()
        #: Set when the peer stopped reading and the bound was passed.
        self.overflowed = asyncio.Event()

    @property
    def info(self) -> ConnectionInfo:
        return self._info

    def send(self, message: dict[str, Any]) -> None:
        if self.overflowed.is_set():
            return
        text = json.dumps(message)
        if (
            len(self._outbox) >= SEND_QUEUE_FRAMES
            or self._queued_bytes + len(text) > SEND_QUEUE_BYTES
        ):
            # A peer that does not read must not grow our memory: drop what
            # is queued; the connection handler closes the socket.
            self._outbox.clear()
            self._queued_bytes = 0
            self.overflowed.set()
            return
        self._outbox.append(text)
        self._queued_bytes += len(text)
        self._wakeup.set()

    def send_event(self, name: str, args: list[Any]) -> None:
        self.send({"type": "event", "name": name, "args": to_jsonable(args)})

    def finish(self) -> None:
        self._outbox.append(None)
        self._wakeup.set()

    async def write_loop(self) -> None:
        while True:
            if not self._outbox:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            text = self._outbox.popleft()
            if text is None:
                return
            self._queued_bytes -= len(text)
            await self._ws.send_text(text)


def _ws_token(websocket: WebSocket) -> str | None:
    header = websocket.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    for offered in websocket.scope.get("subprotocols", []):
        if offered.startswith("rivet_token."):
            return str(offered[len("rivet_token.") :])
    return None


def _error_frame(exc: errors.InspectorError, call_id: Any = None) -> dict[str, Any]:
    return {"type": "error", "id": call_id, **exc.to_json()}


async def _run_action(actor: ActorInstance, conn: ClientConnection, frame: Any) -> None:
    call_id = frame.get("id") if isinstance(frame, dict) else None
    try:
        if not isinstance(frame, dict) or frame.get("type") != "action":
            raise errors.invalid_request('expected {"type": "action", "id", "name", "args"}')
        name, args = frame.get("name"), frame.get("args", [])
        if not isinstance(name, str) or not isinstance(args, list):
            raise errors.invalid_request("'name' must be a string and 'args' a list")
        output = await actor.invoke(name, args, transport="connection", connection=conn)
        conn.send({"type": "action_result", "id": call_id, "output": to_jsonable(output)})
    except errors.InspectorError as exc:
        conn.send(_error_frame(exc, call_id))


async def _connect(system: ActorSystem, websocket: WebSocket) -> None:
    actor_id = websocket.path_params["actorId"]
    offered = websocket.scope.get("subprotocols", [])
    subprotocol = "rivet" if "rivet" in offered else None
    # Accept first, then refuse: a close code only travels in a close frame
    # (refusing the upgrade would show the client a bare HTTP 403).
    await websocket.accept(subprotocol)
    if system.authorize(actor_id, _ws_token(websocket)) is None:
        await websocket.close(1008, "inspector.unauthorized")
        return
    actor = system.get(actor_id)
    if actor is None:
        await websocket.close(1008, "actor.not_found")
        return
    client = websocket.client
    details = {
        "remote": f"{client.host}:{client.port}" if client else None,
        "params": dict(websocket.query_params),
    }
    conn = ClientConnection(websocket, ConnectionInfo(secrets.token_hex(8), details))
    actor.add_connection(conn)
    writer = asyncio.create_task(conn.write_loop())
    reader = asyncio.create_task(_read_loop(actor, conn, websocket))
    overflow = asyncio.create_task(conn.overflowed.wait())
    try:
        await asyncio.wait({reader, writer, overflow}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        actor.remove_connection(conn.info.id)
        conn.finish()
        for task in (reader, overflow):
            task.cancel()
        if conn.overflowed.is_set():
            # The writer may be stuck behind the peer's full window; stop it.
            # The close frame waits for the peer as well, so bound that wait.
            writer.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(
                    websocket.close(1008, "client.send_queue_overflow"), CLOSE_TIMEOUT
                )
        for task in (reader, writer, overflow):
            with contextlib.suppress(BaseException):
                await task


async def _read_loop(actor: ActorInstance, conn: ClientConnection, websocket: WebSocket) -> None:
    calls: set[asyncio.Task[None]] = set()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            try:
                if text is None:
                    raise errors.invalid_request("frames must be JSON text")
                frame = jsonbounds.loads(text, what="the frame")
            except errors.InspectorError as exc:
                conn.send(_error_frame(exc))
                continue
            # Each call runs on its own so broadcasts keep flowing while an
            # action awaits; the actor itself runs one action at a time.
            task = asyncio.create_task(_run_action(actor, conn, frame))
            calls.add(task)
            task.add_done_callback(calls.discard)
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        for task in calls:
            task.cancel()


async def _post_queue(system: ActorSystem, request: Request) -> Response:
    actor_id = request.path_params["actorId"]
    try:
        actor, _ = authorized_actor(system, actor_id, request)
        value = await read_json(request, required=True)
        await actor.enqueue(request.path_params["name"], value)
        status = await actor.queue_status(0)
        return JSONResponse({"ok": True, "queueSize": status.size})
    except errors.InspectorError as exc:
        return error_response(exc)
    except Exception:
        return internal_error(request)


def gateway_routes(system: ActorSystem) -> list[BaseRoute]:
    async def connect(websocket: WebSocket) -> None:
        await _connect(system, websocket)

    async def post_queue(request: Request) -> Response:
        return await _post_queue(system, request)

    return [
        WebSocketRoute("/gateway/{actorId}/connect", connect),
        Route("/gateway/{actorId}/queue/{name}", post_queue, methods=["POST"]),
    ]
