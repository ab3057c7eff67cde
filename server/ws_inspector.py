"""The inspector WebSocket endpoint (PROTOCOL.md §1, §5, §6).

``inspector_websocket_routes`` returns the two starlette routes serving it:
``/gateway/{actorId}/inspector/connect`` and ``/inspector/connect`` (the
actor named by the ``rivet_actor.{id}`` subprotocol). The endpoint is a raw
ASGI callable rather than a starlette ``WebSocket`` session, which keeps the
per-frame path to: receive, decode, one dispatch-table lookup, the façade
call, encode, queue append.

Lifecycle of one connection:

1. Handshake (``ws_handshake``): a bad ``?protocol_version=`` closes with
   1002; then auth through ``ActorDirectory.authorize``: a bad or missing
   token closes with 1008 ``inspector.unauthorized`` — checked before the
   actor is looked up, so an unauthenticated peer learns nothing about which
   actors exist — and an unknown actor with 1008 ``inspector.actor_not_found``.
   The handshake is accepted first in every case, because a WebSocket close
   code can only travel in a close frame (refusing the upgrade would show
   the client a bare HTTP 403 instead).
2. The connection joins the actor's ``PushHub`` and its ``Init`` is queued
   first, so pushes racing with the ``Init`` snapshot follow it in order.
3. A reader loop answers each request through ``ws_requests``; one writer
   task drains the bounded ``SendQueue``.

Requests of one connection are answered one at a time, in order: a
``PatchStateRequest`` followed by a ``StateRequest`` sees its own patch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.routing import BaseRoute, WebSocketRoute

from actorscope.protocol.errors import DecodeError
from actorscope.protocol.framing import (
    NEWEST_VERSION,
    decode_to_server,
    downgrade_to_server,
    encode_to_client,
)
from actorscope.protocol.messages import Error, ToClient, ToServer
from actorscope.protocol.values import ValueCodec

from .errors import InspectorError
from .inspector_api import ActorDirectory, ActorInspector, CredentialClass
from .ws_fanout import PushHub, PushHubs
from .ws_handshake import INVALID_PROTOCOL_VERSION, InvalidProtocolVersion, parse_handshake
from .ws_requests import ASYNC_HANDLERS, SYNC_HANDLERS, RequestContext, build_init
from .ws_send_queue import AsgiSend, SendQueue

__all__ = [
    "ACTOR_NOT_FOUND",
    "CLOSE_TIMEOUT",
    "DEFAULT_SEND_QUEUE_BYTES",
    "DEFAULT_SEND_QUEUE_LIMIT",
    "MAX_FRAME_SIZE",
    "UNAUTHORIZED",
    "InspectorEndpoint",
    "inspector_websocket_routes",
]

AsgiReceive = Callable[[], Awaitable[MutableMapping[str, Any]]]

#: Frames larger than this close the connection with 1009 (PROTOCOL.md §5).
#: uvicorn enforces it in its frame parser when run with ``ws_max_size`` set
#: to it; the endpoint checks again so the limit holds under any server.
MAX_FRAME_SIZE = 1 << 20
#: Seconds a closing connection's writer gets to deliver its close frame.
CLOSE_TIMEOUT = 10.0
#: Frames a connection may have waiting before it counts as a slow consumer.
DEFAULT_SEND_QUEUE_LIMIT = 1024
#: Bytes a connection may have waiting before it counts as a slow consumer.
DEFAULT_SEND_QUEUE_BYTES = 16 << 20

UNAUTHORIZED = "inspector.unauthorized"
ACTOR_NOT_FOUND = "inspector.actor_not_found"

_TEXT_FRAME = "inspector.invalid_frame: text frames are not supported"

_log = logging.getLogger(__name__)


def inspector_websocket_routes(
    directory: ActorDirectory,
    *,
    value_codec: ValueCodec,
    max_protocol_version: int = NEWEST_VERSION,
    send_queue_limit: int = DEFAULT_SEND_QUEUE_LIMIT,
    send_queue_bytes: int = DEFAULT_SEND_QUEUE_BYTES,
) -> list[BaseRoute]:
    """The starlette routes of the inspector WebSocket endpoint (§6).

    Args:
        directory: finds actors and checks tokens.
        value_codec: encodes user values into ``data`` fields (§7).
        max_protocol_version: the newest version this server speaks (1..4);
            lower it to behave as an older peer (§1, §5).
        send_queue_limit: frames one connection may have queued before it is
            closed as a slow consumer; ``send_queue_bytes`` bounds the same
            queue in bytes.
    """
    endpoint = InspectorEndpoint(
        directory,
        value_codec=value_codec,
        max_protocol_version=max_protocol_version,
        send_queue_limit=send_queue_limit,
        send_queue_bytes=send_queue_bytes,
    )
    return [
        WebSocketRoute("/gateway/{actorId}/inspector/connect", endpoint, name="inspector_ws"),
        WebSocketRoute("/inspector/connect", endpoint, name="inspector_ws_subprotocol"),
    ]


class InspectorEndpoint:
    """The ASGI app behind both routes; one instance shares the push hubs."""

    def __init__(
        self,
        directory: ActorDirectory,
        *,
        value_codec: ValueCodec,
        max_protocol_version: int = NEWEST_VERSION,
        send_queue_limit: int = DEFAULT_SEND_QUEUE_LIMIT,
        send_queue_bytes: int = DEFAULT_SEND_QUEUE_BYTES,
    ) -> None:
        if not 1 <= max_protocol_version <= NEWEST_VERSION:
            raise ValueError(f"max_protocol_version must be 1..{NEWEST_VERSION}")
        self.directory = directory
        self.value_codec = value_codec
        self.max_protocol_version = max_protocol_version
        self.send_queue_limit = send_queue_limit
        self.send_queue_bytes = send_queue_bytes
        self.hubs = PushHubs(value_codec)

    async def __call__(
        self, scope: MutableMapping[str, Any], receive: AsgiReceive, send: AsgiSend
    ) -> None:
        if scope["type"] != "websocket":
            return
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        try:
            handshake = parse_handshake(scope, self.max_protocol_version)
        except InvalidProtocolVersion:
            # No subprotocol is known to be safe to select here: accept bare.
            await _refuse(send, 1002, INVALID_PROTOCOL_VERSION, _offered_rivet(scope))
            return
        actor_id = handshake.actor_id or ""
        credential = self.directory.authorize(actor_id, handshake.token)
        if credential is None:
            await _refuse(send, 1008, UNAUTHORIZED, handshake.subprotocol)
            return
        inspector = self.directory.get(actor_id) if actor_id else None
        if inspector is None:
            await _refuse(send, 1008, ACTOR_NOT_FOUND, handshake.subprotocol)
            return
        await send({"type": "websocket.accept", "subprotocol": handshake.subprotocol})
        session = _Session(self, inspector, credential, send, handshake.protocol_version)
        await session.run(receive)


class _Session:
    """One inspector connection: version tracking, reader loop, writer task."""

    __slots__ = ("_hub", "context", "endpoint", "negotiated", "prefixed", "queue", "version")

    def __init__(
        self,
        endpoint: InspectorEndpoint,
        inspector: ActorInspector,
        credential: CredentialClass,
        send: AsgiSend,
        negotiated: int | None,
    ) -> None:
        self.endpoint = endpoint
        self.context = RequestContext(inspector, endpoint.value_codec, credential)
        self.negotiated = negotiated
        self.prefixed = negotiated is None
        # §1: negotiated peers are answered at their version; embedded peers
        # at the server's newest until their first frame says otherwise.
        self.version = negotiated if negotiated is not None else endpoint.max_protocol_version
        self.queue = SendQueue(
            send,
            max_frames=endpoint.send_queue_limit,
            max_bytes=endpoint.send_queue_bytes,
            on_give_up=self._give_up,
        )
        self._hub: PushHub | None = endpoint.hubs.join(inspector, self)

    async def run(self, receive: AsgiReceive) -> None:
        writer: asyncio.Task[None] | None = None
        try:
            try:
                init = await build_init(self.context)
                frame = encode_to_client(init, self.version, prefix=self.prefixed)
                self.queue.offer_first(frame)
                writer = asyncio.create_task(self.queue.run())
                await self._read(receive)
            except Exception:
                _log.exception("inspector connection failed")
                self.queue.close(1011, "inspector.internal_error")
                if writer is None:
                    writer = asyncio.create_task(self.queue.run())
            finally:
                self._give_up()
            if self.queue.closing:
                # Let the writer deliver the close frame it was asked to
                # send; it stops by itself once the peer is gone, and a peer
                # that neither reads nor leaves gets CLOSE_TIMEOUT seconds.
                try:
                    await asyncio.wait_for(writer, CLOSE_TIMEOUT)
                except TimeoutError:
                    _log.warning("inspector peer did not take its close frame; dropped")
        finally:
            if writer is not None and not writer.done():
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer

    def _give_up(self) -> None:
        hub, self._hub = self._hub, None
        if hub is not None:
            self.endpoint.hubs.leave(hub, self)

    async def _read(self, receive: AsgiReceive) -> None:
        queue = self.queue
        cap = self.endpoint.max_protocol_version
        negotiated = self.negotiated
        sync_handlers = SYNC_HANDLERS
        context = self.context
        while True:
            message = await receive()
            frame = message.get("bytes")
            if frame is None:
                if message["type"] != "websocket.receive":
                    return  # websocket.disconnect
                if message.get("text") is not None:
                    await self._reply_error(_TEXT_FRAME)
                continue
            if queue.closing:
                continue  # closing: drain the peer's frames, answer nothing
            if len(frame) > MAX_FRAME_SIZE:
                queue.close(1009, "inspector.frame_too_large")
                continue
            try:
                version, request = decode_to_server(frame, negotiated)
            except DecodeError as exc:
                await self._reply_error(f"inspector.invalid_frame: {exc}")
                continue
            if negotiated is None:
                self.version = version if version < cap else cap
            if version > cap and isinstance(request, ToServer):
                # §5: what a server capped below the frame's version makes of
                # it — the request as that version sees it, or the Error.
                request = downgrade_to_server(request, cap)
            if isinstance(request, ToClient):
                # The request has no meaning here (v1 EventsRequest, a v4
                # request at a v3 server): its answer is this Error.
                await self._reply(request)
                continue
            body = request.body
            handler = sync_handlers.get(type(body))
            try:
                if handler is not None:
                    reply = handler(context, body)
                else:
                    async_handler = ASYNC_HANDLERS.get(type(body))
                    if async_handler is None:
                        await self._reply_error(
                            f"inspector.unsupported_request: {type(body).__name__}"
                        )
                        continue
                    reply = await async_handler(context, body)
            except InspectorError as exc:
                await self._reply_error(exc.frame_message())
                continue
            except Exception as exc:
                _log.exception("inspector request %s failed", type(body).__name__)
                await self._reply_error(f"inspector.internal_error: {type(exc).__name__}")
                continue
            if reply is not None:
                await queue.put(encode_to_client(reply, self.version, prefix=self.prefixed))

    async def _reply(self, message: ToClient) -> None:
        await self.queue.put(encode_to_client(message, self.version, prefix=self.prefixed))

    async def _reply_error(self, text: str) -> None:
        await self._reply(ToClient(Error(message=text)))


async def _refuse(send: AsgiSend, code: int, reason: str, subprotocol: str | None) -> None:
    await send({"type": "websocket.accept", "subprotocol": subprotocol})
    await send({"type": "websocket.close", "code": code, "reason": reason})


def _offered_rivet(scope: MutableMapping[str, Any]) -> str | None:
    return "rivet" if "rivet" in (scope.get("subprotocols") or ()) else None
