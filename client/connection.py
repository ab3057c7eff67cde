"""``InspectorClient``: the asyncio inspector client over ``websockets``.

It connects in negotiated mode (PROTOCOL.md §1: ``?protocol_version=N``, bare
payloads at version N both ways; N is the newest version unless asked
otherwise) to ``/gateway/{actorId}/inspector/connect``,
offering the subprotocols ``rivet`` and, with a token,
``rivet_inspector_token.{t}`` (§6 "Auth"). The version rules — the query,
which requests exist at N, encoding and decoding at N — are
:class:`actorscope.protocol.negotiation.ClientSide`'s, the same module the
server's rules live in. One reader task decodes every frame:
responses go to the request waiting on their ``rid``; ``Init`` and the
``…Updated`` pushes go to a bounded queue read by ``pushes()``.

Why one request in flight at a time: an ``Error`` frame carries no ``rid``
(§3), so the only way to know which request it answers is that just one is
waiting. ``patch_state`` has no response at all; it is followed by a
``StateRequest`` so that a refusal (an ``Error`` before the ``StateResponse``)
is reported to the caller instead of being lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urlsplit, urlunsplit

import websockets
from actorscope.protocol import messages as m
from actorscope.protocol.errors import ConversionError, DecodeError
from actorscope.protocol.history import WorkflowHistory, decode_history
from actorscope.protocol.negotiation import ClientSide
from actorscope.protocol.values import VALUE_CODECS, CborCodec, ValueCodec
from actorscope.protocol.versions import NEWEST_VERSION
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from .errors import (
    InspectorClientError,
    InspectorConnectionClosed,
    InspectorRequestError,
    InspectorTimeout,
    RequestNotSupported,
    split_error_message,
)
from .models import (
    ConnectionView,
    InitView,
    Push,
    ScheduleFireView,
    ScheduleView,
    ServerError,
    connections_from_wire,
    fires_from_wire,
    push_from_wire,
    schedules_from_wire,
)

__all__ = ["InspectorClient", "inspector_url", "request_name"]

_log = logging.getLogger(__name__)

_WORD = re.compile(r"[A-Z][a-z]*")


def request_name(cls: type) -> str:
    """The human name of a request class for ``RequestNotSupported``
    (``WorkflowReplayRequest`` -> ``"workflow replay"``)."""
    words = _WORD.findall(cls.__name__.removesuffix("Request"))
    return " ".join(w.lower() for w in words)


_END = object()  # closes the pushes() iteration


def inspector_url(
    base_url: str,
    actor_id: str,
    protocol_version: int = NEWEST_VERSION,
    *,
    value_codec: str | None = None,
) -> str:
    """The negotiated-mode WebSocket URL for ``actor_id`` under ``base_url``.

    ``http``/``https`` become ``ws``/``wss``; a path already on ``base_url`` is kept
    as a prefix (a server behind a reverse proxy). ``value_codec`` (``cbor`` or
    ``msgpack``) asks the server for that value codec (PROTOCOL.md §11).
    """
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"unsupported URL scheme {parts.scheme!r} in {base_url!r}")
    path = parts.path.rstrip("/") + f"/gateway/{quote(actor_id, safe='')}/inspector/connect"
    query = ClientSide(protocol_version).query
    if value_codec is not None:
        query += f"&value_codec={value_codec}"
    return urlunsplit((scheme, parts.netloc, path, query, ""))


class InspectorClient:
    """An inspector connection to one actor.

    Use it as ``async with InspectorClient(url, actor_id) as client:``; opening
    waits for the server's ``Init`` (available as ``client.init``).

    Args:
        url: the server's base URL (``http://127.0.0.1:6420`` or ``ws://…``).
        actor_id: the actor to inspect.
        token: the server-wide or the actor's inspector token (none in dev mode).
        protocol_version: the version to negotiate (default: the newest, 6).
        timeout: seconds to wait for each response (and for ``Init``).
        codec: the value codec to decode user values with (CBOR by default,
            §11); a ``cbor`` or ``msgpack`` codec is asked of the server by name
            (``?value_codec=``), so the server sends what this client decodes.
        max_pushes: pushes kept for ``pushes()``; when full the oldest is dropped,
            so a script that never reads pushes does not grow without bound.
    """

    def __init__(
        self,
        url: str,
        actor_id: str,
        token: str | None = None,
        protocol_version: int = NEWEST_VERSION,
        *,
        timeout: float = 10.0,
        codec: ValueCodec | None = None,
        max_pushes: int = 1000,
    ) -> None:
        self._side = ClientSide(protocol_version)  # ValueError for an unknown version
        self.codec: ValueCodec = codec if codec is not None else CborCodec()
        name = getattr(self.codec, "name", None)
        asked = name if isinstance(name, str) and name in VALUE_CODECS else None
        self.url = inspector_url(url, actor_id, protocol_version, value_codec=asked)
        self.actor_id = actor_id
        self.version = protocol_version
        self.timeout = timeout
        self._token = token
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._next_id = 1
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._lock = asyncio.Lock()
        self._pushes: asyncio.Queue[Any] = asyncio.Queue(maxsize=max(1, max_pushes))
        self._init: asyncio.Future[InitView] | None = None
        self._closed: InspectorConnectionClosed | None = None
        self.init: InitView | None = None

    # -- lifecycle ---------------------------------------------------------

    async def connect(self) -> Self:
        """Open the socket and wait for ``Init``.

        Raises:
            InspectorConnectionClosed: the server refused (bad token, unknown actor:
                close 1008, §6) or closed before ``Init``.
            InspectorTimeout: no ``Init`` within ``timeout``.
        """
        subprotocols = [Subprotocol("rivet")]
        if self._token:
            subprotocols.append(Subprotocol(f"rivet_inspector_token.{self._token}"))
        try:
            self._ws = await connect(
                self.url,
                subprotocols=subprotocols,
                open_timeout=self.timeout,
                proxy=None,
                max_size=None,
            )
        except websockets.exceptions.InvalidStatus as exc:
            status = exc.response.status_code
            raise InspectorConnectionClosed(None, f"handshake refused: HTTP {status}") from exc
        except (OSError, websockets.exceptions.WebSocketException) as exc:
            raise InspectorConnectionClosed(None, f"cannot connect to {self.url}: {exc}") from exc
        self._init = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read_loop(self._ws))
        try:
            self.init = await self._wait(self._init, "Init")
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        """Close the socket and stop the reader; pending requests fail."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None

    async def __aenter__(self) -> Self:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- requests (PROTOCOL.md §3 "Requests") --------------------------------

    async def state(self) -> Any:
        """The actor's state, decoded; ``None`` when the actor has no state."""
        resp = await self._request(lambda rid: m.StateRequest(id=rid), m.StateResponse)
        return None if resp.state is None else self.codec.decode(resp.state)

    async def patch_state(self, value: Any) -> None:
        """Replace the actor's state.

        Raises:
            InspectorRequestError: refused (``actor.state_not_enabled``).
        """
        patch = m.PatchStateRequest(state=self.codec.encode(value))
        await self._request(lambda rid: m.StateRequest(id=rid), m.StateResponse, before=patch)

    async def action(self, name: str, *args: Any) -> Any:
        """Call action ``name`` with ``args``; returns its decoded output."""
        data = self.codec.encode(list(args))
        resp = await self._request(
            lambda rid: m.ActionRequest(id=rid, name=name, args=data), m.ActionResponse
        )
        return self.codec.decode(resp.output)

    async def connections(self) -> list[ConnectionView]:
        """The actor's live client connections."""
        resp = await self._request(lambda rid: m.ConnectionsRequest(id=rid), m.ConnectionsResponse)
        return connections_from_wire(resp.connections, self.codec)

    async def rpcs(self) -> list[str]:
        """The actor's action names."""
        resp = await self._request(lambda rid: m.RpcsListRequest(id=rid), m.RpcsListResponse)
        return list(resp.rpcs)

    async def queue(self, limit: int = 50) -> m.QueueStatus:
        """The queue's size and up to ``limit`` message summaries (v2+)."""
        resp = await self._request(lambda rid: m.QueueRequest(id=rid, limit=limit), m.QueueResponse)
        status: m.QueueStatus = resp.status
        return status

    async def traces(self, start_ms: int, end_ms: int, limit: int = 1000) -> Any:
        """Spans between ``start_ms`` and ``end_ms`` (v2+): the decoded payload."""
        resp = await self._request(
            lambda rid: m.TraceQueryRequest(id=rid, start_ms=start_ms, end_ms=end_ms, limit=limit),
            m.TraceQueryResponse,
        )
        return self.codec.decode(resp.payload)

    async def workflow_history(self) -> WorkflowHistory | None:
        """The workflow history (v2+), or ``None`` when the actor has no workflow."""
        resp = await self._request(
            lambda rid: m.WorkflowHistoryRequest(id=rid), m.WorkflowHistoryResponse
        )
        return None if resp.history is None else decode_history(resp.history)

    async def replay(self, entry_id: str | None = None) -> WorkflowHistory | None:
        """Rewind the workflow to ``entry_id`` (or the start) (v4; ENGINE.md
        "Replay from a step"); returns the history right after the rewind.

        Raises:
            RequestNotSupported: negotiated version below 4 (nothing is sent).
            InspectorRequestError: refused, e.g. ``workflow.replay_in_flight``.
        """
        resp = await self._request(
            lambda rid: m.WorkflowReplayRequest(id=rid, entry_id=entry_id),
            m.WorkflowReplayResponse,
        )
        return None if resp.history is None else decode_history(resp.history)

    async def database_schema(self) -> Any:
        """The actor database's schema, decoded (v3+)."""
        resp = await self._request(
            lambda rid: m.DatabaseSchemaRequest(id=rid), m.DatabaseSchemaResponse
        )
        return self.codec.decode(resp.schema)

    async def database_rows(self, table: str, limit: int = 100, offset: int = 0) -> Any:
        """Rows of ``table``, decoded (v3+)."""
        resp = await self._request(
            lambda rid: m.DatabaseTableRowsRequest(id=rid, table=table, limit=limit, offset=offset),
            m.DatabaseTableRowsResponse,
        )
        return self.codec.decode(resp.result)

    async def schedules(self) -> list[ScheduleView]:
        """The actor's pending schedules, soonest first (v6)."""
        resp = await self._request(lambda rid: m.SchedulesRequest(id=rid), m.SchedulesResponse)
        return schedules_from_wire(resp.schedules, self.codec)

    async def schedule_history(self, schedule_id: str, limit: int = 100) -> list[ScheduleFireView]:
        """The newest ``limit`` fires of a schedule, oldest first (v6; the server
        clamps ``limit`` to 1..1000).

        Raises:
            InspectorRequestError: ``schedule.not_found``.
        """
        resp = await self._request(
            lambda rid: m.ScheduleHistoryRequest(id=rid, schedule_id=schedule_id, limit=limit),
            m.ScheduleHistoryResponse,
        )
        return fires_from_wire(resp.history, self.codec)

    async def delete_schedule(self, schedule_id: str, kind: str) -> bool:
        """Cancel a schedule (``kind``: ``at``, ``every`` or ``cron``) (v6).

        Returns ``False`` when there is no such schedule of that kind.
        """
        resp = await self._request(
            lambda rid: m.ScheduleDeleteRequest(id=rid, schedule_id=schedule_id, kind=kind),
            m.ScheduleDeleteResponse,
        )
        return bool(resp.deleted)

    # -- pushes ------------------------------------------------------------

    async def pushes(self) -> AsyncIterator[Push]:
        """Yield ``Init`` and every live update until the connection closes."""
        while True:
            item = await self._pushes.get()
            if item is _END:
                self._pushes.put_nowait(_END)  # later iterators end too
                return
            yield item

    async def next_push(self, timeout: float | None = None) -> Push:
        """The next push, waiting at most ``timeout`` (default: the request timeout)."""
        try:
            item = await asyncio.wait_for(self._pushes.get(), timeout or self.timeout)
        except TimeoutError:
            raise InspectorTimeout("no push within the timeout") from None
        if item is _END:
            self._pushes.put_nowait(_END)
            raise self._closed or InspectorConnectionClosed(None, "")
        result: Push = item
        return result

    # -- machinery ---------------------------------------------------------

    def _encode(self, body: Any) -> bytes:
        try:
            return self._side.encode(m.ToServer(body=body))
        except ConversionError as exc:
            name = request_name(type(body))
            reply = getattr(exc, "reply", None)
            code = ""
            if reply is not None:
                code = split_error_message(getattr(reply.body, "message", ""))[0]
            raise RequestNotSupported(name, self.version, code) from None

    async def _request(self, build: Any, expect: type, *, before: Any = None) -> Any:
        # Encode first: a request the version cannot express is refused here,
        # with no round trip.
        async with self._lock:
            rid = self._next_id
            self._next_id += 1
            request = build(rid)
            frames = [self._encode(before)] if before is not None else []
            frames.append(self._encode(request))
            ws = self._ws
            if ws is None or self._closed is not None:
                raise self._closed or InspectorConnectionClosed(None, "not connected")
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._pending[rid] = fut
            try:
                try:
                    for frame in frames:
                        await ws.send(frame)
                except websockets.exceptions.ConnectionClosed as exc:
                    raise self._closed or InspectorConnectionClosed(
                        ws.close_code, ws.close_reason or ""
                    ) from exc
                resp = await self._wait(fut, type(request).__name__)
            finally:
                self._pending.pop(rid, None)
        if not isinstance(resp, expect):
            raise InspectorClientError(f"expected {expect.__name__}, got {type(resp).__name__}")
        return resp

    async def _wait(self, fut: asyncio.Future[Any], what: str) -> Any:
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.timeout)
        except TimeoutError:
            raise InspectorTimeout(f"no answer to {what} within {self.timeout:g}s") from None

    async def _read_loop(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                if isinstance(frame, str):
                    _log.warning("ignoring a text frame from the inspector")
                    continue
                try:
                    msg = self._side.decode(frame)
                except DecodeError as exc:
                    _log.warning("undecodable frame from the inspector: %s", exc)
                    continue
                self._dispatch(msg.body)
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            self._closed = InspectorConnectionClosed(ws.close_code, ws.close_reason or "")
            for fut in (self._init, *self._pending.values()):
                if fut is not None and not fut.done():
                    fut.set_exception(self._closed)
            self._offer(_END)

    def _dispatch(self, body: Any) -> None:
        rid = getattr(body, "rid", None)
        if rid is not None:
            fut = self._pending.get(rid)
            if fut is not None and not fut.done():
                fut.set_result(body)
            return  # a late answer to a request that timed out
        if isinstance(body, m.Error):
            waiting = [f for f in self._pending.values() if not f.done()]
            if waiting:
                waiting[0].set_exception(InspectorRequestError(body.message))
                return
            code, _ = split_error_message(body.message)
            self._offer(ServerError(code=code, message=body.message))
            return
        push = push_from_wire(body, self.codec)
        if push is None:
            _log.warning("ignoring unexpected %s from the inspector", type(body).__name__)
            return
        if isinstance(push, InitView) and self._init is not None and not self._init.done():
            self._init.set_result(push)
        self._offer(push)

    def _offer(self, item: Any) -> None:
        # Bounded: drop the oldest push rather than grow (so the end marker always fits).
        while self._pushes.full():
            self._pushes.get_nowait()
        self._pushes.put_nowait(item)
