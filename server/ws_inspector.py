"""The inspector WebSocket endpoint (PROTOCOL.md §1, §5, §6, §9.2, §9.8).

``inspector_websocket_routes`` returns the two starlette routes serving it:
``/gateway/{actorId}/inspector/connect`` and ``/inspector/connect`` (the
actor named by the ``rivet_actor.{id}`` subprotocol). The endpoint is a raw
ASGI callable rather than a starlette ``WebSocket`` session, which keeps the
per-frame path to: receive, decode, one dispatch-table lookup, the façade
call, encode, queue append.

Lifecycle of one connection:

1. Handshake (``ws_handshake``): a bad ``?protocol_version=`` closes with
   1002, and so does a ``?value_codec=`` other than ``cbor`` or ``msgpack``
   (``wire_values``: the connection's value codec, §11); then auth through
   ``ActorDirectory.authorize``: a bad or missing token closes with 1008
   ``inspector.unauthorized`` — checked before the actor is looked up, so
   an unauthenticated peer learns nothing about which actors exist — and an
   unknown actor with 1008 ``inspector.actor_not_found``.
   The handshake is accepted first in every case, because a WebSocket close
   code can only travel in a close frame (refusing the upgrade would show
   the client a bare HTTP 403 instead).
2. The connection joins the actor's ``PushHub`` and its ``Init`` is queued
   first, so pushes racing with the ``Init`` snapshot follow it in order.
   Which version each frame goes out at, what a capped server makes of a
   newer request, and which pushes a peer gets are the rules of
   :class:`actorscope.protocol.negotiation.ServerSide`, which the session
   holds; nothing here decides them.
3. A reader loop answers each request through ``ws_requests``; one writer
   task drains the bounded ``SendQueue``.

Requests of one connection are answered one at a time, in order: a
``PatchStateRequest`` followed by a ``StateRequest`` sees its own patch.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.routing import BaseRoute, WebSocketRoute

from actorscope.protocol.errors import DecodeError, InvalidProtocolVersion
from actorscope.protocol.messages import Error, ToClient, ToServer
from actorscope.protocol.negotiation import (
    CLOSE_INVALID_PROTOCOL_VERSION,
    INVALID_PROTOCOL_VERSION,
    ServerSide,
    check_version,
)
from actorscope.protocol.values import ValueCodec
from actorscope.protocol.versions import NEWEST_VERSION

from .errors import InspectorError
from .inspector_api import ActorDirectory, ActorInspector, CredentialClass
from .uvicorn_protocols import abort_from_scope
from .wire_values import INVALID_VALUE_CODEC, InvalidValueCodec, codec_from_query
from .ws_direct import DirectChannel, MessageSink, attach_from_scope
from .ws_fanout import PushHub, PushHubs
from .ws_handshake import parse_handshake
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
        value_codec: the default value codec for user values in ``data`` fields; a
            peer picks another with ``?value_codec=cbor|msgpack`` (§11).
        max_protocol_version: the newest version this server speaks (one of
            ``protocol.versions.VERSIONS``); lower it to behave as an older
            peer (§1, §5).
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
        check_version(max_protocol_version, name="max_protocol_version")
        self.directory = directory
        self.value_codec = value_codec
        self.max_protocol_version = max_protocol_version
        self.send_queue_limit = send_queue_limit
        self.send_queue_bytes = send_queue_bytes
        self.hubs = PushHubs(value_codec)
        # One instance per codec name, so pushes are encoded once per codec.
        self._codecs: dict[str, ValueCodec] = {}

    def _codec_for(self, scope: MutableMapping[str, Any]) -> ValueCodec:
        """The value codec the peer asked for (``?value_codec=``), or the server's (§11)."""
        codec = codec_from_query(scope.get("query_string", b""), self.value_codec)
        name = getattr(codec, "name", None)
        if codec is self.value_codec or name is None:
            return codec
        return self._codecs.setdefault(name, codec)

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
            code, reason = CLOSE_INVALID_PROTOCOL_VERSION, INVALID_PROTOCOL_VERSION
            await _refuse(send, code, reason, _offered_rivet(scope))
            return
        try:
            codec = self._codec_for(scope)
        except InvalidValueCodec:
            # 1002 (protocol error), like a bad protocol_version: the peer asked
            # for something this server does not speak.
            await _refuse(send, 1002, INVALID_VALUE_CODEC, _offered_rivet(scope))
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
        session = _Session(self, inspector, credential, send, handshake.protocol_version, codec)
        session.abort = abort_from_scope(scope)
        session.attach = attach_from_scope(scope)
        await session.run(receive)


class _Session:
    """One inspector connection: version rules, reader loop, writer task."""

    __slots__ = (
        "_backlog",
        "_drainer",
        "_hub",
        "abort",
        "attach",
        "channel",
        "context",
        "endpoint",
        "queue",
        "versions",
    )

    def __init__(
        self,
        endpoint: InspectorEndpoint,
        inspector: ActorInspector,
        credential: CredentialClass,
        send: AsgiSend,
        negotiated: int | None,
        value_codec: ValueCodec,
    ) -> None:
        self.endpoint = endpoint
        self.versions = ServerSide(negotiated, endpoint.max_protocol_version)
        self.context = RequestContext(inspector, value_codec, credential, self.versions)
        self.queue = SendQueue(
            send,
            max_frames=endpoint.send_queue_limit,
            max_bytes=endpoint.send_queue_bytes,
            on_give_up=self._give_up,
            close_timeout=CLOSE_TIMEOUT,
            on_stuck=self._abort,
        )
        self._hub: PushHub | None = endpoint.hubs.join(inspector, self)
        #: Drops the transport (``uvicorn_protocols``); ``None`` under another server.
        self.abort: Callable[[], None] | None = None
        #: The direct message path (``ws_direct``); ``None`` under another server.
        self.attach: Callable[[MessageSink], DirectChannel] | None = None
        self.channel: DirectChannel | None = None
        # Requests that must wait their turn (an asynchronous one, or one
        # whose answer cannot be written now), answered in order by _drain.
        self._backlog: collections.deque[bytes | str | ToServer] = collections.deque()
        self._drainer: asyncio.Task[None] | None = None

    async def run(self, receive: AsgiReceive) -> None:
        writer: asyncio.Task[None] | None = None
        try:
            try:
                init = await build_init(self.context)
                frame = self.versions.encode(init)
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
                    self._abort()
        finally:
            for task in (self._drainer, writer):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    def _abort(self) -> None:
        # Closing politely needs the peer to read; it does not, so the
        # socket would stay open for good: drop the transport instead.
        _log.warning("inspector peer did not take its close frame in time; aborted")
        if self.abort is not None:
            self.abort()

    @property
    def version(self) -> int:
        """The version this peer is answered at right now (for the push hub)."""
        return self.versions.version

    @property
    def prefixed(self) -> bool:
        return self.versions.prefixed

    def carries(self, message_name: str) -> bool:
        return self.versions.carries(message_name)

    @property
    def value_codec(self) -> ValueCodec:
        """This connection's value codec (the push hub encodes pushes with it)."""
        return self.context.value_codec

    def _give_up(self) -> None:
        hub, self._hub = self._hub, None
        if hub is not None:
            self.endpoint.hubs.leave(hub, self)

    async def _read(self, receive: AsgiReceive) -> None:
        attach = self.attach
        if attach is not None:
            self.channel = channel = attach(self)
            self.queue.use_direct(channel)
            for queued in channel.take_queued():
                self.message_received(queued)
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return  # websocket.disconnect
            data: bytes | str | None = message.get("bytes")
            if data is None:
                data = message.get("text")
                if data is None:
                    continue
            if self.channel is not None:
                self.message_received(data)
            else:
                await self._handle(data)

    # -- the direct path (ws_direct): synchronous, inside the protocol's read --------

    def message_received(self, data: bytes | str) -> None:
        """Answer one request now if nothing waits ahead of it, else queue it in order."""
        if self._backlog or not self.queue.can_write_now():
            self._defer(data)
            return
        try:
            request = self._decode(data)
            if request is None:
                return
            if isinstance(request, ToClient):
                self.queue.write_now(self.versions.encode(request))
                return
            body = request.body
            handler = SYNC_HANDLERS.get(type(body))
            if handler is None:
                self._defer(request)  # an asynchronous request: answered by the drainer
                return
            try:
                reply = handler(self.context, body)
            except Exception as exc:
                reply = _failure_reply(body, exc)
            if reply is None:
                return
            frame = self._frame_of(reply)
            # A push the handler caused may have had to queue: stay behind it.
            if self.queue.can_write_now():
                self.queue.write_now(frame)
            else:
                self.queue.put_nowait(frame)
        except Exception:
            # Never let a failure escape into the transport's read callback.
            _log.exception("inspector connection failed")
            self.queue.close(1011, "inspector.internal_error")

    def _defer(self, item: bytes | str | ToServer) -> None:
        if self.queue.closing:
            return
        self._backlog.append(item)
        if self._drainer is None:
            assert self.channel is not None
            self.channel.pause_reading()
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        backlog = self._backlog
        try:
            while backlog and not self.queue.closing:
                await self._handle(backlog[0])
                backlog.popleft()
        except Exception:
            _log.exception("inspector connection failed")
            self.queue.close(1011, "inspector.internal_error")
        finally:
            backlog.clear()
            self._drainer = None
            if self.channel is not None:
                self.channel.resume_reading()

    # -- the queued path: one request at a time, in order ------------------------------

    def _decode(self, data: bytes | str) -> ToServer | ToClient | None:
        """The request in ``data``, an answer to send instead, or ``None`` (nothing to send)."""
        queue = self.queue
        if queue.closing:
            return None  # closing: drain the peer's frames, answer nothing
        if isinstance(data, str):
            return ToClient(Error(message=_TEXT_FRAME))
        if len(data) > MAX_FRAME_SIZE:
            queue.close(1009, "inspector.frame_too_large")
            return None
        try:
            return self.versions.decode(data)
        except DecodeError as exc:
            return ToClient(Error(message=f"inspector.invalid_frame: {exc}"))

    async def _handle(self, item: bytes | str | ToServer) -> None:
        request = item if isinstance(item, ToServer) else self._decode(item)
        if request is None:
            return
        if isinstance(request, ToClient):
            # A decode error, or a request with no meaning here (v1
            # EventsRequest, a v6 schedule request at a v5-capped server):
            # its answer is this Error.
            await self._reply(request)
            return
        body = request.body
        handler = SYNC_HANDLERS.get(type(body))
        reply: ToClient | bytes | None
        try:
            if handler is not None:
                reply = handler(self.context, body)
            elif (async_handler := ASYNC_HANDLERS.get(type(body))) is not None:
                reply = await async_handler(self.context, body)
            else:
                reply = ToClient(
                    Error(message=f"inspector.unsupported_request: {type(body).__name__}")
                )
        except Exception as exc:
            reply = _failure_reply(body, exc)
        if reply is not None:
            await self.queue.put(self._frame_of(reply))

    def _frame_of(self, reply: ToClient | bytes) -> bytes:
        # A handler answers with a message, or with the frame itself (StateFrames).
        return reply if isinstance(reply, bytes) else self.versions.encode(reply)

    async def _reply(self, message: ToClient) -> None:
        await self.queue.put(self.versions.encode(message))


def _failure_reply(body: object, exc: Exception) -> ToClient:
    """The Error frame answering a request whose handler raised ``exc``."""
    if isinstance(exc, InspectorError):
        return ToClient(Error(message=exc.frame_message()))
    _log.error("inspector request %s failed", type(body).__name__, exc_info=exc)
    return ToClient(Error(message=f"inspector.internal_error: {type(exc).__name__}"))


async def _refuse(send: AsgiSend, code: int, reason: str, subprotocol: str | None) -> None:
    await send({"type": "websocket.accept", "subprotocol": subprotocol})
    await send({"type": "websocket.close", "code": code, "reason": reason})


def _offered_rivet(scope: MutableMapping[str, Any]) -> str | None:
    return "rivet" if "rivet" in (scope.get("subprotocols") or ()) else None
