"""``GET /inspector/events``: an actor's changes as a Server-Sent Events stream.

The HTTP twin of the WebSocket inspector's pushes, for a page or a script
that would rather read lines than BARE frames (the built-in web inspector
reads it). Same auth as every docs/PROTOCOL.md §8 route, ``Authorization: Bearer``; a page
reads it with ``fetch()`` because ``EventSource`` cannot send that header,
and the token never goes in the URL. Each event is ``event: NAME`` plus one
``data:`` line of JSON:

* ``state`` ``{"state"}`` — the saved state (after an action, a patch, a step);
* ``connections`` ``{"connections": [{"id", "details"}]}``;
* ``queue`` ``{"size"}`` — pending workflow queue messages;
* ``history`` ``{"history"}`` — the workflow history in §8's JSON form;
* ``workflow`` ``{"status", "executing", "retrying"}`` — see
  ``workflow_status.py`` (``executing`` lists the paths of the steps running
  now: the history cannot show a step before it finishes);
* ``schedules`` ``{"schedules"}`` — the pending schedules, in the form of
  ``GET /inspector/schedules`` (docs/PROTOCOL.md §9.8), after each change.

The stream opens with one event of each kind that applies to the actor (the
current values), then sends changes. A slow reader never grows memory: the
events not yet written are kept as the newest one per kind, so a reader
that falls behind skips straight to the latest values. A comment line
(``: keep-alive``) goes out every 15 s of silence.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from . import errors
from .actor import ActorInstance
from .directory import ActorSystem
from .http_api import authorized_actor, error_response, internal_error
from .inspector_api import (
    ConnectionsChanged,
    HistoryChanged,
    InspectorEvent,
    QueueChanged,
    SchedulesChanged,
    StateChanged,
)
from .jsonvalues import history_to_json, to_jsonable
from .schedule_json import schedule_to_json
from .workflow_status import workflow_status

if TYPE_CHECKING:
    from actorscope.engine import HistorySnapshot

__all__ = ["EventStream", "OpenStreams", "end_event_streams", "event_stream_routes", "format_event"]

#: Seconds between checks of whether a step started or stopped running
#: (the engine announces history writes, not step starts).
STATUS_POLL_SECONDS = 0.1
#: Seconds of silence before a keep-alive comment.
KEEPALIVE_SECONDS = 15.0


def format_event(name: str, data: Any) -> bytes:
    """One SSE event: ``event: name``, one ``data:`` line of JSON, a blank line."""
    # json.dumps never emits a raw newline, so one data line always suffices.
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


_NAMES: dict[type, str] = {
    StateChanged: "state",
    ConnectionsChanged: "connections",
    QueueChanged: "queue",
    HistoryChanged: "history",
    SchedulesChanged: "schedules",
}


def _event_payload(event: InspectorEvent) -> Any:
    match event:
        case StateChanged(state=state):
            return {"state": to_jsonable(state)}
        case ConnectionsChanged(connections=conns):
            return {"connections": [{"id": c.id, "details": to_jsonable(c.details)} for c in conns]}
        case QueueChanged(size=size):
            return {"size": size}
        case HistoryChanged(history=snapshot):
            return {"history": history_to_json(snapshot)}
        case SchedulesChanged(schedules=schedules):
            return {"schedules": [schedule_to_json(s) for s in schedules]}
    raise AssertionError(f"unknown inspector event {event!r}")


def _render(value: Any) -> Any:
    return _event_payload(value) if type(value) in _NAMES else value


class EventStream:
    """The pending events of one reader: the newest payload per kind, in arrival order.

    Façade events are kept as they came and turned into JSON only when
    written, so a history superseded before the reader took it is never
    rendered.
    """

    def __init__(self, actor: ActorInstance) -> None:
        self._actor = actor
        self._pending: dict[str, Any] = {}
        self._ready = asyncio.Event()
        self._status: Any = None
        # The newest history seen: the status check runs every 100 ms and
        # must not reload the history from the store each time.
        self._snapshot: HistorySnapshot | None = None
        self.closed = False

    def close(self) -> None:
        """End the stream at its next wake-up (server shutdown)."""
        self.closed = True
        self._ready.set()

    def push(self, name: str, data: Any) -> None:
        # Re-inserting moves the kind to the end: events leave in the order
        # their newest values arrived, and each kind is held at most once.
        self._pending.pop(name, None)
        self._pending[name] = data
        self._ready.set()

    def on_event(self, event: InspectorEvent) -> None:
        if isinstance(event, HistoryChanged):
            self._snapshot = event.history
        self.push(_NAMES[type(event)], event)

    async def initial(self) -> None:
        """Queue the current values (called after subscribing, so nothing is missed)."""
        actor = self._actor
        if actor.is_state_enabled:
            self.push("state", {"state": to_jsonable(actor.state())})
        self.on_event(ConnectionsChanged(actor.connections()))
        self.on_event(SchedulesChanged(await actor.schedules()))
        if actor.workflow is not None:
            self.push("queue", {"size": (await actor.queue_status(0)).size})
            self.on_event(HistoryChanged(await actor.workflow.history()))
            self.check_status()

    def check_status(self) -> None:
        """Queue a ``workflow`` event when the status or the running steps changed."""
        host = self._actor.workflow
        if host is None or self._snapshot is None:
            return
        status = workflow_status(host, self._snapshot)
        if status != self._status:
            self._status = status
            self.push("workflow", status)

    async def next_chunk(self, timeout: float) -> bytes | None:
        """The pending events as bytes, or ``None`` after ``timeout`` s with none."""
        if not self._pending and not self.closed:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
        pending, self._pending = self._pending, {}
        return b"".join(format_event(name, _render(value)) for name, value in pending.items())


class OpenStreams:
    """The streams being served, so that a server shutting down can end them.

    A stream never ends on its own; without this, shutdown would wait out
    uvicorn's graceful timeout and then cancel them mid-response.
    """

    def __init__(self) -> None:
        self._streams: set[EventStream] = set()
        self.closing = False

    def add(self, stream: EventStream) -> None:
        self._streams.add(stream)
        if self.closing:
            stream.close()

    def discard(self, stream: EventStream) -> None:
        self._streams.discard(stream)

    def close_all(self) -> None:
        self.closing = True
        for stream in list(self._streams):
            stream.close()


def end_event_streams(app: Any) -> None:
    """End every event stream of ``app`` (a ``build_app`` application), if it has any."""
    streams = getattr(getattr(app, "state", None), "event_streams", None)
    if isinstance(streams, OpenStreams):
        streams.close_all()


async def _events(
    unsubscribe: Callable[[], None], stream: EventStream, streams: OpenStreams
) -> AsyncIterator[bytes]:
    # Runs until the client goes away (starlette then cancels this generator)
    # or the server shuts down (``OpenStreams.close_all``).
    streams.add(stream)
    try:
        yield b": actorscope event stream\n\n"
        silent = 0.0
        while not stream.closed:
            stream.check_status()
            chunk = await stream.next_chunk(STATUS_POLL_SECONDS)
            if stream.closed:
                return
            if chunk is not None:
                silent = 0.0
                yield chunk
                continue
            silent += STATUS_POLL_SECONDS
            if silent >= KEEPALIVE_SECONDS:
                silent = 0.0
                yield b": keep-alive\n\n"
    finally:
        streams.discard(stream)
        unsubscribe()


def _endpoint(system: ActorSystem, streams: OpenStreams) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        try:
            actor_id = request.path_params.get("actorId")
            if actor_id is None:
                actors = system.actors()
                actor_id = actors[0].actor_id if len(actors) == 1 else ""
            actor, _ = authorized_actor(system, str(actor_id), request)
            stream = EventStream(actor)
            unsubscribe = actor.subscribe(stream.on_event)
            try:
                await stream.initial()
            except BaseException:
                unsubscribe()
                raise
        except errors.InspectorError as exc:
            return error_response(exc)
        except Exception:
            return internal_error(request)
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(
            _events(unsubscribe, stream, streams),
            media_type="text/event-stream",
            headers=headers,
        )

    return endpoint


def event_stream_routes(system: ActorSystem, streams: OpenStreams) -> list[BaseRoute]:
    """``/gateway/{actorId}/inspector/events`` and, for a single-actor server, the root."""
    endpoint = _endpoint(system, streams)
    return [
        Route("/gateway/{actorId}/inspector/events", endpoint, methods=["GET"]),
        Route("/inspector/events", endpoint, methods=["GET"]),
    ]
