"""Write coalescing: frames ready in one loop step leave in one transport write."""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from actorscope.protocol.framing import decode_to_client, encode_to_server
from actorscope.protocol.messages import StateRequest, StateResponse, ToServer
from actorscope.server.ws_transport import FLUSH_BYTES, CoalescingTransport


class _Recorder:
    """The real transport's side: what was written, and in how many writes."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0


async def _step() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_writes_in_one_step_become_one_write_in_order() -> None:
    inner = _Recorder()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    for i in range(64):
        transport.write(bytes([i]))
    assert inner.writes == []
    assert transport.get_write_buffer_size() == 64
    await _step()
    assert inner.writes == [bytes(range(64))]
    transport.write(b"later")
    await _step()
    assert inner.writes == [bytes(range(64)), b"later"]


async def test_held_writes_leave_at_release_in_one_write() -> None:
    # What the protocol writes while handling a read leaves when the read is
    # done, not one loop step later.
    inner = _Recorder()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.hold()
    for i in range(10):
        transport.write(bytes([i]))
    assert inner.writes == []
    transport.release()
    assert inner.writes == [bytes(range(10))]
    await _step()
    assert inner.writes == [bytes(range(10))]


async def test_more_than_flush_bytes_is_handed_over_at_once() -> None:
    # Only the real transport sees the peer stop reading; holding more than
    # FLUSH_BYTES back would hide that from it (and from backpressure).
    inner = _Recorder()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.hold()
    chunk = b"x" * (FLUSH_BYTES // 4)
    for _ in range(4):
        transport.write(chunk)
    assert inner.writes == [chunk * 4]
    transport.write(b"tail")
    assert transport.get_write_buffer_size() == 4
    transport.release()
    assert inner.writes == [chunk * 4, b"tail"]


async def test_close_flushes_first_and_abort_drops() -> None:
    inner = _Recorder()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"close frame")
    transport.close()
    assert inner.writes == [b"close frame"] and inner.closed
    await _step()
    assert inner.writes == [b"close frame"]

    other = _Recorder()
    transport = CoalescingTransport(other, asyncio.get_running_loop())
    transport.write(b"never sent")
    transport.abort()
    await _step()
    assert other.writes == [] and other.aborted


async def test_pipelined_requests_get_every_answer_in_order(server: Any, demo_ids: Any) -> None:
    url = f"{server.ws_url}/gateway/{demo_ids['counter']}/inspector/connect"
    protocols = [Subprotocol("rivet"), Subprotocol(f"rivet_inspector_token.{server.server_token}")]
    async with connect(url, subprotocols=protocols, compression=None) as ws:
        await ws.recv()  # Init
        for rid in range(200):
            await ws.send(encode_to_server(ToServer(StateRequest(id=rid)), 4))
        rids = []
        for _ in range(200):
            _, message = decode_to_client(await asyncio.wait_for(ws.recv(), 30))
            assert isinstance(message.body, StateResponse)
            rids.append(message.body.rid)
        assert rids == list(range(200))
