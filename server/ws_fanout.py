"""Live pushes to every inspector watching an actor (PROTOCOL.md §6).

One ``PushHub`` per watched actor holds the actor's single façade
subscription and the connections watching it. Each change event becomes one
newest-model push, encoded at most once per (version, framing mode) and the
same ``bytes`` object handed to every connection at that version — fanning a
``StateUpdated`` out to hundreds of inspectors costs one value encoding, a
handful of frame encodings and one queue append per connection.

A push a peer's version cannot carry (``QueueUpdated`` and
``WorkflowHistoryUpdated`` for v1, ``SchedulesUpdated`` below v6) is not sent
to that peer at all: the §5 converters would turn it into an ``Error`` frame,
and §5 says the server does not flood a peer with those. That rule, and the
histories without version-check entries for peers at v4 and below (§9.8),
are :mod:`actorscope.protocol.negotiation`'s; this module only groups peers
by (version, framing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from actorscope.protocol.messages import (
    ConnectionsUpdated,
    QueueUpdated,
    SchedulesUpdated,
    StateUpdated,
    ToClient,
    WorkflowHistoryUpdated,
)
from actorscope.protocol.negotiation import carries, encode_for
from actorscope.protocol.values import ValueCodec

from .inspector_api import (
    ActorInspector,
    ConnectionsChanged,
    HistoryChanged,
    InspectorEvent,
    QueueChanged,
    SchedulesChanged,
    StateChanged,
)
from .ws_requests import history_bytes, wire_connections, wire_schedules
from .ws_send_queue import SendQueue

__all__ = ["PushHub", "PushHubs", "PushTarget"]

_log = logging.getLogger(__name__)

#: The push each change event becomes (its name is what the version table knows).
_PUSH_NAMES: dict[type[Any], str] = {
    StateChanged: StateUpdated.__name__,
    ConnectionsChanged: ConnectionsUpdated.__name__,
    QueueChanged: QueueUpdated.__name__,
    HistoryChanged: WorkflowHistoryUpdated.__name__,
    SchedulesChanged: SchedulesUpdated.__name__,
}


class PushTarget(Protocol):
    """One inspector connection as the hub sees it."""

    @property
    def version(self) -> int:
        """The version this peer is answered at right now."""

    @property
    def prefixed(self) -> bool:
        """True in embedded mode (frames carry the u16 version prefix)."""

    @property
    def queue(self) -> SendQueue: ...


def _state_push(codec: ValueCodec, event: StateChanged) -> ToClient:
    return ToClient(StateUpdated(state=codec.encode(event.state)))


def _connections_push(codec: ValueCodec, event: ConnectionsChanged) -> ToClient:
    return ToClient(ConnectionsUpdated(connections=wire_connections(codec, event.connections)))


def _queue_push(codec: ValueCodec, event: QueueChanged) -> ToClient:
    return ToClient(QueueUpdated(queue_size=event.size))


def _history_push(codec: ValueCodec, event: HistoryChanged) -> ToClient:
    return ToClient(WorkflowHistoryUpdated(history=history_bytes(event.history, codec)))


def _schedules_push(codec: ValueCodec, event: SchedulesChanged) -> ToClient:
    return ToClient(SchedulesUpdated(schedules=wire_schedules(codec, event.schedules)))


_BUILDERS: dict[type[Any], Callable[[ValueCodec, Any], ToClient]] = {
    StateChanged: _state_push,
    ConnectionsChanged: _connections_push,
    QueueChanged: _queue_push,
    HistoryChanged: _history_push,
    SchedulesChanged: _schedules_push,
}


class PushHub:
    """The façade subscription of one actor and the connections it feeds."""

    def __init__(self, inspector: ActorInspector, value_codec: ValueCodec) -> None:
        self.inspector = inspector
        self._codec = value_codec
        self._targets: dict[int, PushTarget] = {}
        self._unsubscribe: Callable[[], None] | None = inspector.subscribe(self._on_event)

    def __len__(self) -> int:
        return len(self._targets)

    def add(self, target: PushTarget) -> None:
        self._targets[id(target)] = target

    def discard(self, target: PushTarget) -> None:
        self._targets.pop(id(target), None)

    def close(self) -> None:
        """Drop the façade subscription (the last connection left)."""
        self._targets.clear()
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()

    def _on_event(self, event: InspectorEvent) -> None:
        # Runs synchronously inside the actor's code path (inspector_api:
        # listeners must not block and must not raise into the actor).
        try:
            self._fan_out(event)
        except Exception:
            _log.exception("inspector push for %s failed", type(event).__name__)

    def _fan_out(self, event: InspectorEvent) -> None:
        kind = type(event)
        name = _PUSH_NAMES[kind]
        targets = [t for t in self._targets.values() if carries(name, t.version)]
        if not targets:
            # Nobody can take it: skip the value or history encoding entirely.
            return
        # §11: each connection has its value codec (CBOR unless it asked for
        # MessagePack); a target without one gets the hub's. One push per
        # codec, one frame per (codec, version, framing mode).
        build = _BUILDERS[kind]
        pushes: dict[int, ToClient] = {}
        frames: dict[tuple[int, int, bool], bytes] = {}
        for target in targets:
            codec = getattr(target, "value_codec", None) or self._codec
            key = (id(codec), target.version, target.prefixed)
            frame = frames.get(key)
            if frame is None:
                push = pushes.get(key[0])
                if push is None:
                    push = pushes[key[0]] = build(codec, event)
                frame = frames[key] = encode_for(push, key[1], key[2])
            target.queue.offer(frame)


class PushHubs:
    """The hubs of every actor currently watched through one set of routes."""

    def __init__(self, value_codec: ValueCodec) -> None:
        self._codec = value_codec
        # Keyed by the inspector object itself (by identity): an actor that
        # was re-created gets a fresh hub on the fresh façade. The hub keeps
        # the inspector alive, so the id cannot be reused meanwhile.
        self._hubs: dict[int, PushHub] = {}

    def __len__(self) -> int:
        return len(self._hubs)

    def join(self, inspector: ActorInspector, target: PushTarget) -> PushHub:
        """Start feeding ``target`` the pushes of ``inspector``'s actor."""
        hub = self._hubs.get(id(inspector))
        if hub is None:
            hub = self._hubs[id(inspector)] = PushHub(inspector, self._codec)
        hub.add(target)
        return hub

    def leave(self, hub: PushHub, target: PushTarget) -> None:
        """Stop feeding ``target``; unsubscribe when nobody watches any more."""
        hub.discard(target)
        if not len(hub) and self._hubs.get(id(hub.inspector)) is hub:
            del self._hubs[id(hub.inspector)]
            hub.close()
