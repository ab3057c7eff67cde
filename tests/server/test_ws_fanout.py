"""Push fan-out: one encoding per version, shared bytes, no pushes v1 cannot carry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack

from actorscope.protocol.framing import decode_to_client
from actorscope.protocol.messages import QueueUpdated, StateUpdated
from actorscope.protocol.values import MsgpackCodec
from actorscope.server.inspector_api import (
    HistoryChanged,
    InspectorEvent,
    QueueChanged,
    StateChanged,
)
from actorscope.server.ws_fanout import PushHubs


class CountingCodec(MsgpackCodec):
    def __init__(self) -> None:
        super().__init__()
        self.encoded = 0

    def encode(self, value: Any) -> bytes:
        self.encoded += 1
        return super().encode(value)


class Snapshot:
    def __init__(self) -> None:
        self.calls = 0

    def to_transport(self) -> dict[str, Any]:
        self.calls += 1
        return {"nameRegistry": [], "entries": [], "entryMetadata": {}}


class Actor:
    def __init__(self) -> None:
        self.listeners: list[Callable[[InspectorEvent], None]] = []

    def subscribe(self, listener: Callable[[InspectorEvent], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def emit(self, event: InspectorEvent) -> None:
        for listener in self.listeners:
            listener(event)


class Frames:
    """Stands in for a connection's ``SendQueue``: keeps what it is offered."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def offer(self, frame: bytes) -> None:
        self.frames.append(frame)


class Target:
    def __init__(self, version: int, prefixed: bool) -> None:
        self.version = version
        self.prefixed = prefixed
        self.queue = Frames()

    @property
    def frames(self) -> list[bytes]:
        return self.queue.frames


def test_one_encoding_per_version_shared_by_every_connection() -> None:
    codec = CountingCodec()
    hubs = PushHubs(codec)
    actor = Actor()
    targets = [Target(4, True) for _ in range(200)] + [Target(2, False), Target(2, False)]
    for target in targets:
        hubs.join(actor, target)  # type: ignore[arg-type]
    assert len(actor.listeners) == 1 and len(hubs) == 1  # one subscription per actor
    actor.emit(StateChanged({"count": 1}))
    assert codec.encoded == 1  # the state value, once
    v4 = {id(t.frames[0]) for t in targets[:200]}
    assert len(v4) == 1  # the very same bytes object for all 200
    assert targets[200].frames[0] is targets[201].frames[0]
    _, message = decode_to_client(targets[0].frames[0])
    assert message.body == StateUpdated(state=msgpack.packb({"count": 1}))
    _, message = decode_to_client(targets[200].frames[0], 2)
    assert message.body == StateUpdated(state=msgpack.packb({"count": 1}))


def test_history_is_encoded_once_per_push_and_v1_gets_none() -> None:
    hubs = PushHubs(MsgpackCodec())
    actor = Actor()
    v1, v2, v4 = Target(1, True), Target(2, True), Target(4, True)
    for target in (v1, v2, v4):
        hubs.join(actor, target)  # type: ignore[arg-type]
    snapshot = Snapshot()
    actor.emit(HistoryChanged(snapshot))  # type: ignore[arg-type]
    actor.emit(QueueChanged(5))
    assert snapshot.calls == 1
    assert v1.frames == []  # §5: the server does not send what v1 would get as an Error
    assert len(v2.frames) == len(v4.frames) == 2
    _, message = decode_to_client(v2.frames[1])
    assert message.body == QueueUpdated(queue_size=5)


def test_nobody_able_to_take_a_push_means_no_encoding() -> None:
    hubs = PushHubs(MsgpackCodec())
    actor = Actor()
    hubs.join(actor, Target(1, False))  # type: ignore[arg-type]
    snapshot = Snapshot()
    actor.emit(HistoryChanged(snapshot))  # type: ignore[arg-type]
    assert snapshot.calls == 0


def test_last_one_out_unsubscribes() -> None:
    hubs = PushHubs(MsgpackCodec())
    actor = Actor()
    a, b = Target(4, True), Target(4, True)
    hub = hubs.join(actor, a)  # type: ignore[arg-type]
    assert hubs.join(actor, b) is hub  # type: ignore[arg-type]
    hubs.leave(hub, a)  # type: ignore[arg-type]
    assert len(actor.listeners) == 1
    hubs.leave(hub, b)  # type: ignore[arg-type]
    assert actor.listeners == [] and len(hubs) == 0
