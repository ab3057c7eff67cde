"""The bounded per-connection send queue (slow readers, bounded memory)."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest
from actorscope.server.ws_send_queue import SLOW_CONSUMER, SendQueue


class Sink:
    """An ASGI ``send`` whose writes can be held, like a peer that stops reading."""

    def __init__(self) -> None:
        self.sent: list[MutableMapping[str, Any]] = []
        self.open = asyncio.Event()
        self.open.set()
        self.gone = False

    async def __call__(self, message: MutableMapping[str, Any]) -> None:
        await self.open.wait()
        if self.gone:
            raise OSError("client disconnected")
        self.sent.append(message)

    @property
    def frames(self) -> list[bytes]:
        return [m["bytes"] for m in self.sent if m["type"] == "websocket.send"]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_replies_and_pushes_keep_their_order() -> None:
    sink = Sink()
    queue = SendQueue(sink, max_frames=16, max_bytes=1 << 20)
    writer = asyncio.create_task(queue.run())
    await queue.put(b"r1")  # idle: written directly
    queue.offer(b"p1")
    await queue.put(b"r2")  # p1 is still queued: r2 goes behind it
    queue.offer(b"p2")
    await settle()
    assert sink.frames == [b"r1", b"p1", b"r2", b"p2"]
    writer.cancel()


async def test_a_direct_reply_blocks_the_writer_until_done() -> None:
    sink = Sink()
    queue = SendQueue(sink, max_frames=16, max_bytes=1 << 20)
    writer = asyncio.create_task(queue.run())
    await settle()
    sink.open.clear()
    reply = asyncio.create_task(queue.put(b"reply"))
    await settle()
    queue.offer(b"push")  # wakes the writer while the reply is mid-write
    await settle()
    sink.open.set()
    await reply
    await settle()
    assert sink.frames == [b"reply", b"push"]
    writer.cancel()


async def test_push_overflow_closes_with_1008_and_drops_the_backlog() -> None:
    sink = Sink()
    given_up: list[bool] = []
    queue = SendQueue(
        sink, max_frames=4, max_bytes=1 << 20, on_give_up=lambda: given_up.append(True)
    )
    sink.open.clear()  # the peer stopped reading
    writer = asyncio.create_task(queue.run())
    for i in range(10):
        queue.offer(bytes([i]))
    assert queue.closing and given_up == [True]
    assert len(queue) == 0  # memory released at once, not when the peer reads
    sink.open.set()
    await asyncio.wait_for(writer, 1)
    assert sink.sent[-1] == {"type": "websocket.close", "code": 1008, "reason": SLOW_CONSUMER}
    assert len(sink.frames) <= 1  # at most the frame that was already being written


async def test_byte_limit_counts_too() -> None:
    sink = Sink()
    queue = SendQueue(sink, max_frames=1000, max_bytes=100)
    queue.offer(bytes(60))
    assert not queue.closing
    queue.offer(bytes(60))
    assert queue.closing


async def test_replies_wait_for_room_instead_of_closing() -> None:
    sink = Sink()
    queue = SendQueue(sink, max_frames=2, max_bytes=1 << 20)
    queue.offer(b"a")
    queue.offer(b"b")
    blocked = asyncio.create_task(queue.put(b"c"))
    await settle()
    assert not blocked.done() and not queue.closing
    writer = asyncio.create_task(queue.run())
    await asyncio.wait_for(blocked, 1)
    await settle()
    assert sink.frames == [b"a", b"b", b"c"]
    writer.cancel()


async def test_a_vanished_peer_stops_the_writer_and_releases_waiters() -> None:
    sink = Sink()
    queue = SendQueue(sink, max_frames=1, max_bytes=1 << 20)
    sink.gone = True
    queue.offer(b"a")
    blocked = asyncio.create_task(queue.put(b"b"))
    await asyncio.wait_for(queue.run(), 1)
    await asyncio.wait_for(blocked, 1)
    assert queue.closing and len(queue) == 0


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SendQueue(Sink(), max_frames=0, max_bytes=1)
